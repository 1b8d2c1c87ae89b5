# reqctx.rb - the Ruby bridge of reqctx, loaded by the agent through
# RUBYOPT=-r (agent/bridge.c). It does nothing without the agent.
#
# Ruby 3.1 runs each Thread on its own native thread (1:1), so the bridge
# pins a context per thread through the agent's API (reqctx_api_enter; a
# context entered there is pinned: the agent's condvar hand-off rules,
# which Ruby's per-thread GVL/sleep/Queue waits would otherwise trigger,
# leave it alone - docs/design.md, "Runtime bridges"):
# - where a server starts a request: WEBrick::HTTPRequest#parse and
#   Puma::Server#handle_request pin the context the agent gave the
#   request's connection when it read the head (reqctx_api_fd_snapshot);
#   WEBrick keeps it through the handler and the access log, puma for
#   handle_request (a pool thread puma adds later starts in none);
# - Thread.new/start/fork capture the creator's context and enter it in
#   the new thread for the block's duration (Ruby may reuse a cached native
#   thread without pthread_create);
# - Queue#push (<<, enq) wraps the item with the pusher's snapshot (none
#   when the pusher took from that queue before in the same request, or
#   asked it empty?, size or length: an object pool's check-in;
#   AMBIGUOUS when the pusher is ambiguous); pop (shift, deq) unwraps
#   it. A thread with no request of its own (none, or the previous item's:
#   a worker started with the program) takes the item's. A thread with a request of its own (pinned by a server hook or
#   by the block of a thread started inside it) keeps it when the item
#   names the same request or none (an object pool filled at start-up);
#   an item of another request, or an AMBIGUOUS one (a pool that grew
#   inside requests, a worker started lazily inside one request, a
#   handler that takes what another handler put) is ambiguous, and the thread
#   carries none until a server hook pins its next request. SizedQueue
#   likewise.
#
# Every wrapper is a plain `def` (no closure): a block passed to
# define_method shares the locals of the scope it was written in between
# all threads, which once let two concurrent pops exchange their items.
module ReqctxBridge
  # The agent added "-r<this file>" to RUBYOPT: take it out again so the
  # programs this one starts inherit the user's value.
  def self.restore_rubyopt
    piece = "-r#{__FILE__}"
    opt = ENV['RUBYOPT']
    return unless opt&.include?(piece)

    rest = opt.sub(" #{piece}", '').sub(piece, '')
    rest.strip.empty? ? ENV.delete('RUBYOPT') : ENV['RUBYOPT'] = rest
  rescue StandardError
    nil
  end
  restore_rubyopt

  # A Fiddle function of the agent, called without releasing the GVL (each
  # is a few loads and stores; a release would hand the GVL to another
  # thread at every call). nil when the agent does not export it.
  def self.api(name, args, ret)
    addr = Fiddle::Handle::DEFAULT[name]
    begin
      Fiddle::Function.new(addr, args, ret, need_gvl: true)
    rescue ArgumentError
      Fiddle::Function.new(addr, args, ret)
    end
  rescue Fiddle::DLError
    nil
  end

  begin
    require 'fiddle'
    P = Fiddle::TYPE_VOIDP
    SNAPSHOT = api('reqctx_api_snapshot', [], P)
    ENTER = api('reqctx_api_enter', [P], P)
    # A new thread's first context, its creator's: ended by the thread's
    # first read of a pipe or socketpair (work from elsewhere).
    ENTER_INHERITED = api('reqctx_api_enter_inherited', [P], P)
    # The sleep rule for it (Ruby's sleep is a timed wait the agent does
    # not read as a sleep): 1 when the inherited context ended.
    SLEPT = api('reqctx_api_slept', [], Fiddle::TYPE_INT)
    LEAVE = api('reqctx_api_leave', [P], Fiddle::TYPE_VOID)
    RELEASE = api('reqctx_api_release', [P], Fiddle::TYPE_VOID)
    FD_SNAPSHOT = api('reqctx_api_fd_snapshot', [Fiddle::TYPE_INT], P)
    # The thread's writes to tagged outputs (low 32 bits): the batch rule.
    PROGRESS = api('reqctx_api_progress', [], Fiddle::TYPE_LONG_LONG)
    ACTIVE = !(SNAPSHOT.nil? || ENTER.nil? || LEAVE.nil? || RELEASE.nil?)
  rescue LoadError, StandardError
    ACTIVE = false
  end

  Item = Struct.new(:snap, :obj)
  # An Item's snap when its pusher was ambiguous (it had taken another
  # request's item while serving its own): no one request's, and not
  # nobody's either (unwrap).
  AMBIGUOUS = Object.new.freeze

  # A snapshot as a Fiddle::Pointer that releases it when collected, or
  # nil for none.
  def self.own(ptr)
    return nil if ptr.null?

    ptr.free = RELEASE
    ptr
  end

  # The agent's current context (the thread's own: pinned by a server hook,
  # a thread's block or a pop, else what the agent saw natively).
  def self.capture
    own(SNAPSHOT.call)
  end

  # The context the connection `io` carries: the request whose head the
  # agent read from it last. Falls back to the current context.
  def self.of_io(io)
    return capture if FD_SNAPSHOT.nil?

    fd = io.to_io.fileno
    own(FD_SNAPSHOT.call(fd))
  rescue StandardError
    capture
  end

  # Runs the block with `snap` (or none) pinned, then restores what was
  # current.
  def self.run(snap)
    prev = ENTER.call(snap)
    begin
      yield
    ensure
      LEAVE.call(prev)
    end
  end

  # After a join that returned `r` (nil: timed out): carry_from.
  def self.joined(thread, r)
    carry_from(thread) unless r.nil?
    r
  end

  # From now on this thread serves `snap` (or none).
  def self.take(snap)
    RELEASE.call(ENTER.call(snap))
    next_serial
  end

  # A number the thread's context changes with (a take, a server hook's
  # pin): a push in the same serial as the thread's pop from that queue
  # gives back what it took in the same request (pushes).
  def self.serial
    Thread.current.thread_variable_get(:__reqctx_serial) || 0
  end

  def self.next_serial
    Thread.current.thread_variable_set(:__reqctx_serial, serial + 1)
  end

  # Where the thread's context came from, for the Queue rule (unwrap):
  # :own a request the bridge pinned (a server hook, the block of a thread
  # started inside a request), nil none the bridge knows of (a thread
  # started with the program: whatever the agent gave it natively is no
  # request of its own), :queue the last item's, :batch none after a
  # second item taken before the thread wrote (batch?), :drained none
  # after it drained several items and found the queue empty (emptied),
  # :crossed none after an item of another request taken from a queue
  # while holding one of another queue (unwrap), :ambiguous none after an
  # item of another request.
  def self.source
    Thread.current.thread_variable_get(:__reqctx_source)
  end

  def self.source=(v)
    Thread.current.thread_variable_set(:__reqctx_source, v)
  end

  # The creator's context for a thread it starts. A thread holding a queue
  # item that starts one acts on that item, as a line about it would (the
  # batch rule, batch?): a dispatcher that pops each job and starts a
  # thread for it, with no line of its own, is no batch (before, every job
  # after its first ran in none: a trial, 79 of 80 jobs' first lines bare).
  # Not Timeout's watcher (Timeout.timeout starts one per call: a
  # consumer popping with a timeout while it holds an item acts on
  # nothing).
  def self.spawning(blk)
    t = Thread.current
    if t.thread_variable_get(:__reqctx_source) == :queue &&
       !blk.source_location&.first&.end_with?('/timeout.rb')
      t.thread_variable_set(:__reqctx_pop_progress, nil)
    end
    capture
  end

  # A new thread's block, in its creator's request (its own) or none.
  def self.started(snap)
    if snap.nil? || ENTER_INHERITED.nil?
      return run(snap) do
        yield
      ensure
        finished
      end
    end

    self.source = :own
    Thread.current.thread_variable_set(:__reqctx_inherited, true)
    Thread.current.thread_variable_set(:__reqctx_started_in, snap)
    prev = ENTER_INHERITED.call(snap)
    begin
      yield
    ensure
      finished
      Thread.current.thread_variable_set(:__reqctx_started_in, nil)
      LEAVE.call(prev)
    end
  end

  # A thread's block ends: if it popped from a queue, what that left (its
  # source and context) is kept for the thread that joins it or takes its
  # value (carry_from).
  def self.finished
    t = Thread.current
    t.thread_variable_set(:__reqctx_final, [source, capture]) if t.thread_variable_get(:__reqctx_popped)
  end

  # The calling thread joined `thread` or took its value: a pop there was
  # made for it (Thread.new { q.pop }.value), as the Python bridge carries
  # back asyncio.wait_for's. A pop that left the thread ambiguous, a batch
  # or a drain's end leaves the caller with none (ambiguous where it
  # serves a request of its own); one that took an item's request gives
  # it to a caller with none of its own. Before, the caller kept its
  # previous job (a trial, 78 to 88 of 320 lines wrong).
  def self.carry_from(thread)
    f = thread.thread_variable_get(:__reqctx_final)
    return if f.nil?

    thread.thread_variable_set(:__reqctx_final, nil)
    csrc, csnap = f
    src = source
    return if src == :ambiguous

    if csrc == :ambiguous || csrc == :batch || csrc == :drained || csrc == :crossed
      take(nil)
      self.source = src == :own ? :ambiguous : :drained
    elsif csrc == :queue && src != :own
      take(csnap)
      self.source = :queue
      popped
    end
  end

  # A server hook pinned this thread's request: its own, not inherited.
  def self.pinned_own
    self.source = :own
    next_serial
    Thread.current.thread_variable_set(:__reqctx_inherited, false)
  end

  # A thread started inside a request waits on a ConditionVariable: it
  # waits for work (a pool made lazily by the first request, fed through
  # a Mutex and a ConditionVariable), and what it does next is not its
  # starter's request: it carries none from here. A thread a server hook
  # pinned keeps its request across such a wait (a connection pool's
  # checkout inside the request).
  def self.waits_for_work
    return unless Thread.current.thread_variable_get(:__reqctx_inherited)

    Thread.current.thread_variable_set(:__reqctx_inherited, false)
    self.source = nil
    take(nil)
  end

  # A thread started inside a request woke from Kernel#sleep: the agent's
  # sleep rule (a flusher the first request started, polling an Array
  # later requests fill, is theirs once another request began or its
  # own was answered). Where it ended the context, none from here, as
  # after a wait for work.
  #
  # A helper its starter's request joins is that request's after any
  # sleep it began with that request (`had`: holds_started before it),
  # given again, whatever happened to it meanwhile: a sleep that kept it
  # keeps it only until another request begins (base/ctx.h,
  # ctx_poll_stale), and a CI run once saw such a helper's line bare.
  # Not one that had lost it before (a read of a pipe other requests
  # feed: work from elsewhere).
  def self.slept(had)
    t = Thread.current
    if joined_by_own
      RELEASE.call(ENTER_INHERITED.call(t.thread_variable_get(:__reqctx_started_in))) if had
      return
    end

    waits_for_work if !SLEPT.nil? && SLEPT.call == 1
  end

  # Runs a sleep (the block) for the thread: the sleep rule after it
  # (slept), for a select only where it timed out (nil).
  def self.sleeping(select)
    inh = Thread.current.thread_variable_get(:__reqctx_inherited)
    had = inh && holds_started
    r = yield
    slept(had) if inh && !(select && !r.nil?)
    r
  end

  # The thread has its starter's request now (a helper's, before it
  # sleeps).
  def self.holds_started
    started = Thread.current.thread_variable_get(:__reqctx_started_in)
    !started.nil? && capture.to_i == started.to_i
  end

  # The thread is joined by a thread of the request it was started in:
  # it works for that request (the joiner waits for it), and a sleep
  # does not end it (a helper's backoff while other requests are served).
  def self.joined_by_own
    t = Thread.current
    by = t.thread_variable_get(:__reqctx_joined_by)
    started = t.thread_variable_get(:__reqctx_started_in)
    !by.nil? && !started.nil? && by == started.to_i
  end

  # A thread started inside a request takes a lock (a Mutex or a
  # Monitor): it may be a worker taking a job from a list under that lock
  # without waiting (the first job of a pool the request started, queued
  # by another request before the pool existed), so what it does from
  # here is not known to be its starter's: none, as after a wait.
  def self.locks
    waits_for_work
  end

  # Runs the block in the request a server hook found, as the thread's
  # own; the Queue rule's state before it comes back after.
  def self.serve(snap)
    was = source
    pinned_own
    begin
      run(snap) { yield }
    ensure
      self.source = was
    end
  end

  if ACTIVE
    module ThreadNew
      def new(*args, &blk)
        return super unless blk

        snap = ReqctxBridge.spawning(blk)
        super(*args) { |*a| ReqctxBridge.started(snap) { blk.call(*a) } }
      end

      def start(*args, &blk)
        return super unless blk

        snap = ReqctxBridge.spawning(blk)
        super(*args) { |*a| ReqctxBridge.started(snap) { blk.call(*a) } }
      end

      def fork(*args, &blk)
        return super unless blk

        snap = ReqctxBridge.spawning(blk)
        super(*args) { |*a| ReqctxBridge.started(snap) { blk.call(*a) } }
      end
    end
    Thread.singleton_class.prepend(ThreadNew)

    # Thread#join marks the joined thread with the joiner's request
    # (ReqctxBridge.joined_by_own).
    # Both carry what a pop in the thread left back to the caller
    # (ReqctxBridge.carry_from).
    module JoinMark
      def join(*args)
        s = ReqctxBridge.capture
        return ReqctxBridge.joined(self, super) if s.nil?

        thread_variable_set(:__reqctx_joined_by, s.to_i)
        begin
          ReqctxBridge.joined(self, super)
        ensure
          thread_variable_set(:__reqctx_joined_by, nil)
        end
      end

      def value
        v = super
        ReqctxBridge.carry_from(self)
        v
      end
    end
    Thread.prepend(JoinMark)

    module QueueCarry
      def push(obj, *rest)
        super(Item.new(ReqctxBridge.pushes(self, obj), obj), *rest)
      end

      def <<(obj)
        super(Item.new(ReqctxBridge.pushes(self, obj), obj))
      end

      def enq(obj, *rest)
        super(Item.new(ReqctxBridge.pushes(self, obj), obj), *rest)
      end

      def pop(*args, **kw)
        ReqctxBridge.pops(self)
        ReqctxBridge.may_wait(self) if !args[0] && ReqctxBridge.holds_from?(self)
        ReqctxBridge.unwrap(super, self)
      rescue ThreadError
        ReqctxBridge.emptied(self)
        raise
      end

      def shift(*args, **kw)
        ReqctxBridge.pops(self)
        ReqctxBridge.may_wait(self) if !args[0] && ReqctxBridge.holds_from?(self)
        ReqctxBridge.unwrap(super, self)
      rescue ThreadError
        ReqctxBridge.emptied(self)
        raise
      end

      def deq(*args, **kw)
        ReqctxBridge.pops(self)
        ReqctxBridge.may_wait(self) if !args[0] && ReqctxBridge.holds_from?(self)
        ReqctxBridge.unwrap(super, self)
      rescue ThreadError
        ReqctxBridge.emptied(self)
        raise
      end

      # Asking a queue whether it holds anything is a checkout tried (a
      # pool that makes an object when it is empty): what the thread
      # pushes there later is a check-in.
      def empty?
        ReqctxBridge.pops(self)
        r = super
        ReqctxBridge.emptied(self) if r
        r
      end

      def size
        ReqctxBridge.pops(self)
        r = super
        ReqctxBridge.emptied(self) if r.zero?
        r
      end

      def length
        ReqctxBridge.pops(self)
        r = super
        ReqctxBridge.emptied(self) if r.zero?
        r
      end
    end

    # The queues this thread took from (or tried to: a non-blocking pop
    # of an empty pool, or asked whether it is empty), weakly held, each
    # with the serial it was done in.
    def self.pops(queue)
      m = Thread.current.thread_variable_get(:__reqctx_pops)
      m = Thread.current.thread_variable_set(:__reqctx_pops, ObjectSpace::WeakMap.new) if m.nil?
      m[queue] = serial
    end

    # What an item pushed on `queue` names: the pusher's request, except
    # when the pusher took from that queue before in the same request:
    # then the push gives back what it took (an object pool's check-in, a
    # connection returned), which is no work for anyone. A push in a
    # later request (a keep-alive connection's thread that popped there
    # in an earlier one) is that request's (before, it named nobody, and
    # a handler that popped it wrote the pusher's item under its own ID:
    # a trial, up to 35 of 320 lines). An ambiguous pusher's item is no
    # one request's (AMBIGUOUS), unless it is an object taken there
    # before.
    #
    # What a push names, in full: nobody where the pusher has none (a
    # thread started with the program) or gives back the very object it
    # took (returned?: an object taken there before, or nil, true, false,
    # a Symbol); AMBIGUOUS, no one request's, where the pusher is
    # ambiguous or holds a batch or a drain's end (:ambiguous, :batch,
    # :drained), where it pushes an Integer taken there before (a token,
    # or a job numbered like one: a group commit's client slots, whose
    # leader kept its own request on the others' lines, a trial, 65 of
    # 160), or where it may be giving back what it took without the
    # object saying so (it popped there in the same request, or is a
    # consumer that popped there before: a pool that made an object
    # when it found none, a group commit's follower that asked empty?
    # before it pushed its own item; before, these named nobody, and a
    # handler that popped them kept its request on another's item, a
    # trial, 60 of 160); else the pusher's request.
    def self.pushes(queue, obj = nil)
      src = source
      amb = src == :ambiguous || src == :batch || src == :drained || src == :crossed
      r = returned?(queue, obj)
      return nil if r == :nobody
      return AMBIGUOUS if amb

      snap = capture
      return nil if snap.nil?
      return AMBIGUOUS if r == :ambiguous

      m = Thread.current.thread_variable_get(:__reqctx_pops)
      return AMBIGUOUS if m&.key?(queue) && (src == :queue || m[queue] == serial)

      snap
    end

    # An object pushed back where it was taken from (a token of a
    # concurrency limit a request's handler returns after its answer, a
    # pooled object) names nobody, whoever pushes it: what the taker does
    # next is not that request's work (a trial: a dispatcher that popped
    # a job, then a token a request had returned, gave its job's thread
    # that request's ID: 316 of 960 lines wrong). Known by value for an
    # immediate (nil, true, false, a Symbol: nobody; a small Integer: no
    # one request's, since a job may be numbered like a token), by
    # identity through a weak map for other objects (nobody); the last 64
    # immediates kept per queue. No object is kept alive.
    TAKEN_KEPT = 64

    def self.immediate?(obj)
      obj.nil? || obj == true || obj == false || obj.is_a?(Symbol) ||
        (obj.is_a?(Integer) && obj.bit_length < 62)
    end

    def self.taken(queue, obj)
      if immediate?(obj)
        h = queue.instance_variable_get(:@__reqctx_taken_v) ||
            queue.instance_variable_set(:@__reqctx_taken_v, {})
        h.delete(h.first[0]) if h.size >= TAKEN_KEPT
        h[obj] = true
      else
        w = queue.instance_variable_get(:@__reqctx_taken_w) ||
            queue.instance_variable_set(:@__reqctx_taken_w, ObjectSpace::WeakMap.new)
        w[obj] = true
      end
    rescue StandardError
      nil
    end

    # What `obj`, pushed on `queue`, is as a thing taken there before:
    # :nobody (the same object, or nil, true, false, a Symbol),
    # :ambiguous (an Integer), or nil (not taken there).
    def self.returned?(queue, obj)
      if immediate?(obj)
        h = queue.instance_variable_get(:@__reqctx_taken_v)
        return nil if h.nil? || h.delete(obj).nil?

        obj.is_a?(Integer) ? :ambiguous : :nobody
      else
        w = queue.instance_variable_get(:@__reqctx_taken_w)
        return nil if w.nil? || !w.key?(obj)

        w.delete(obj) if w.respond_to?(:delete)
        :nobody
      end
    rescue StandardError
      nil
    end
    module CondWait
      def wait(*args, **kw)
        ReqctxBridge.waits_for_work
        super
      end
    end
    Thread::ConditionVariable.prepend(CondWait)

    # Kernel#sleep, and Kernel.sleep (the module function's copy of its
    # own: a flusher polling with `Kernel.sleep` kept its starter's
    # request, a trial, 39 of 40 lines wrong). A select that times out
    # (IO.select, Kernel#select, Kernel.select) is a sleep too: with no
    # IO at all, Ruby waits on its thread's condvar, as for sleep.
    module SleepWatch
      private

      def sleep(*args)
        ReqctxBridge.sleeping(false) { super }
      end

      def select(*args)
        ReqctxBridge.sleeping(true) { super }
      end
    end
    Kernel.prepend(SleepWatch)

    module SleepWatchOn
      def sleep(*args)
        ReqctxBridge.sleeping(false) { super }
      end

      def select(*args)
        ReqctxBridge.sleeping(true) { super }
      end
    end
    Kernel.singleton_class.prepend(SleepWatchOn)
    IO.singleton_class.prepend(SleepWatchOn)

    # A trap handler runs on the main thread (WEBrick's acceptor, puma's
    # launcher) between whatever it was doing: its work (a flush of what
    # several requests queued) names no request the agent can tell. It
    # runs with none; the handler trap returns is the program's own.
    TRAPS = {}.compare_by_identity     # the wrapper => the program's handler

    def self.trap_handler(cmd)
      return cmd unless cmd.is_a?(Proc)

      # Called as Ruby calls the program's own: with the signal's number
      # (a lambda that takes none raises, as it does without the bridge).
      w = proc { |*a| run(nil) { cmd.call(*a) } }
      TRAPS[w] = cmd
      w
    end

    def self.trap_unwrap(prior)
      TRAPS.fetch(prior, prior)
    end

    module TrapNone
      def trap(*args, &blk)
        if blk && args.size == 1
          ReqctxBridge.trap_unwrap(super(args[0], ReqctxBridge.trap_handler(blk)))
        elsif args.size == 2 && blk.nil?
          ReqctxBridge.trap_unwrap(super(args[0], ReqctxBridge.trap_handler(args[1])))
        else
          super
        end
      end
    end
    Signal.singleton_class.prepend(TrapNone)

    # A finalizer runs where the collector ran, in whatever thread and
    # request allocated then: what it writes is about its object's
    # request, long over or another's (a trial: 59 to 64 of 240 lines
    # wrong). It runs with none, as a trap handler does; define_finalizer
    # gives back the program's own proc.
    module FinalizerNone
      def define_finalizer(obj, *args, &blk)
        cmd = args.empty? ? blk : args[0]
        return super unless cmd.respond_to?(:call)

        w = proc { |*a| ReqctxBridge.run(nil) { cmd.call(*a) } }
        r = super(obj, w)
        r.is_a?(Array) && r[1].equal?(w) ? [r[0], cmd] : r
      end
    end
    ObjectSpace.singleton_class.prepend(FinalizerNone)

    module KernelTrapNone
      include TrapNone
      private :trap
    end
    Kernel.prepend(KernelTrapNone)

    # The ways into a lock, one wrapper each, written out: a shared method
    # for the test costs a lock about 25 ns more, and methods made with
    # define_method about three times the wrapper (Ruby 3.1, measured);
    # Mutex has no #enter and Monitor no #lock, so each class gets its own.
    module LockWatch
      def synchronize(*args, &blk)
        ReqctxBridge.locks if Thread.current.thread_variable_get(:__reqctx_inherited)
        super
      end

      def lock
        ReqctxBridge.locks if Thread.current.thread_variable_get(:__reqctx_inherited)
        super
      end
    end
    Thread::Mutex.prepend(LockWatch)

    module MonitorWatch
      def synchronize(*args, &blk)
        ReqctxBridge.locks if Thread.current.thread_variable_get(:__reqctx_inherited)
        super
      end

      def enter
        ReqctxBridge.locks if Thread.current.thread_variable_get(:__reqctx_inherited)
        super
      end
    end
    Monitor.prepend(MonitorWatch) if defined?(Monitor)

    # The queues' own empty? (a SizedQueue has its own), for the bridge's
    # question (may_wait).
    QUEUE_EMPTY = Thread::Queue.instance_method(:empty?)
    SIZED_EMPTY = Thread::SizedQueue.instance_method(:empty?)
    Thread::Queue.prepend(QueueCarry)
    Thread::SizedQueue.prepend(QueueCarry)

    # A thread with no request of its own takes an item while it holds
    # the item it took before (:queue) or a batch (:batch), having
    # written nothing since that take: it drains several items before it
    # writes about any (a flusher that pops until the queue is empty, then
    # logs each), and what it writes next is about any of them. It holds
    # a batch, no one request's work, when this item is another
    # request's than what it holds, or it held a batch already: none
    # until a take after it wrote (before, every line of the batch carried
    # the request of the last item popped: a trial, 89 of 100 wrong).
    def self.batch?(src, snap)
      return false if PROGRESS.nil?
      # Once a batch, always: a thread that held several items at once
      # may hold some still when it pops the next after a line (a reorder
      # buffer: a trial, 3 to 8 of 320 lines with the ID of the item that
      # completed the run).
      return true if src == :batch
      # A take after a drain's end, before anything was written about the
      # items drained (emptied: drain_held): one more of them.
      if src == :drained
        h = Thread.current.thread_variable_get(:__reqctx_drain_held)
        return true if !h.nil? && h == PROGRESS.call
      end

      # The same value as after the last take: no snapshot entered and
      # nothing written since (the low half counts writes since the last
      # enter, which the take itself made).
      return false unless PROGRESS.call == Thread.current.thread_variable_get(:__reqctx_pop_progress)

      src == :batch || (src == :queue && snap != capture)
    end

    def self.popped
      return if PROGRESS.nil?

      Thread.current.thread_variable_set(:__reqctx_pop_progress, PROGRESS.call)
      Thread.current.thread_variable_set(:__reqctx_drain_held, nil)
    end

    # The end of a drain. A thread holding the item it took from `queue`,
    # having taken more than one since it last found `queue` empty, finds
    # it empty (empty? true, size 0, a pop(true) that raises ThreadError,
    # a pop about to wait, a pop(timeout:) that gives nil): what it writes
    # from here is about every item it drained, or about none (a flusher
    # that pops and logs each item in turn, then writes about them all),
    # not the last one's. None until its next take (before, the lines
    # after such a drain carried the last item's request: a trial, up to
    # 70 of 150 wrong). One item taken since: the lines are about it.
    def self.holds_from?(queue)
      Thread.current.thread_variable_get(:__reqctx_held_from).equal?(queue)
    end

    # Whether the thread holds an item popped from a queue other than
    # `queue`.
    def self.holds_other?(queue)
      h = Thread.current.thread_variable_get(:__reqctx_held_from)
      !h.nil? && !h.equal?(queue)
    end

    def self.held(queue)
      t = Thread.current
      n = t.thread_variable_get(:__reqctx_held_from).equal?(queue) ? t.thread_variable_get(:__reqctx_drained) : 0
      t.thread_variable_set(:__reqctx_held_from, queue)
      t.thread_variable_set(:__reqctx_drained, n + 1)
    end

    def self.emptied(queue)
      t = Thread.current
      return unless t.thread_variable_get(:__reqctx_held_from).equal?(queue)

      n = t.thread_variable_get(:__reqctx_drained)
      return if n <= 1

      t.thread_variable_set(:__reqctx_held_from, nil)
      t.thread_variable_set(:__reqctx_drained, 0)
      return unless capture

      # Nothing written since the last take: the thread holds every item
      # drained, unwritten, and a take before it writes adds one more
      # (batch?). A consumer that wrote about its last item before its
      # queue ran empty holds nothing: its next take is a new job.
      unwritten = !PROGRESS.nil? && PROGRESS.call == t.thread_variable_get(:__reqctx_pop_progress)
      take(nil)
      self.source = :drained if source == :queue
      t.thread_variable_set(:__reqctx_drain_held, PROGRESS.call) if unwritten
    end

    # A pop that may wait (no non_block argument) from the queue whose
    # item the thread holds: a queue empty now is the end of a drain of
    # several items (emptied). A queue found empty while the thread holds
    # one item from it ends nothing: it still holds that item, so the
    # next take is a second (before, a consumer that took one item,
    # waited for another or polled for it, then found the queue empty and
    # wrote about both, wrote the first's lines with the second's ID:
    # t_batch_drain "waited_done", 13 of 80 wrong). A non-blocking pop is
    # not asked first: its ThreadError says the queue is empty exactly.
    def self.may_wait(queue)
      emptied(queue) if (queue.is_a?(Thread::SizedQueue) ? SIZED_EMPTY : QUEUE_EMPTY).bind_call(queue)
    end

    def self.unwrap(item, queue = nil)
      if item.nil? && queue
        emptied(queue)                    # pop(timeout:) ran out
        return nil
      end
      return item unless item.is_a?(Item)

      taken(queue, item.obj) if queue
      Thread.current.thread_variable_set(:__reqctx_popped, true)

      snap = item.snap
      amb = snap.equal?(AMBIGUOUS)
      snap = nil if amb
      src = source
      if src == :ambiguous
        nil                               # none until the next request
      elsif src == :crossed && queue && !holds_from?(queue)
        # It takes from a queue other than the held item's again, having
        # taken another request's item there: it holds items of two
        # requests (a consumer that takes one item from each of two
        # queues, then drains both and writes about every item), none
        # until its next take from the held item's queue (before, the
        # take after the first queue ran empty gave its item's request
        # to every line about both queues' items: t_batch_drain
        # "pair_done"). A worker that takes its jobs from a second queue
        # whenever its first is empty carries none on them until it
        # takes from the first again. A drain's end on the held item's
        # queue (emptied) leaves no held queue: the items drained are
        # still held, so a take from any queue stays none, and that
        # queue is the held one from here (before, the take after it
        # gave its item's request to the lines about the pair: 2 of 80
        # in 1 of 40 runs under load).
        take(nil)
        held(queue) if Thread.current.thread_variable_get(:__reqctx_held_from).nil?
      elsif src == :queue && queue && holds_other?(queue) && !(cur = capture).nil?
        # A consumer holding another queue's item, in that item's request,
        # pops from this one: an object of a pool (a connection for the
        # job at hand), or another request's work. It keeps its request
        # where the item names the same or none, and carries none
        # otherwise (the Python bridge's rule); what it holds stays as it
        # was.
        if amb || (snap && snap != cur)
          take(nil)
          self.source = :crossed
        end
      elsif src != :own
        if batch?(src, snap)
          take(nil)
          self.source = :batch
        else
          take(snap)
          self.source = :queue
        end
        popped
        held(queue) if queue
      elsif amb || (snap && snap != capture)
        take(nil)
        self.source = :ambiguous
      end
      pops(queue) if queue                # in what the thread holds it
      item.obj
    end

    # WEBrick reads each request of a connection in the connection's
    # thread; the handler, the servlet and the access log run there.
    module WEBrickRequest
      def parse(socket = nil)
        if socket
          ReqctxBridge.take(ReqctxBridge.of_io(socket))
          ReqctxBridge.pinned_own
        end
        super
      ensure
        if socket
          ReqctxBridge.take(ReqctxBridge.of_io(socket))
          ReqctxBridge.pinned_own
        end
      end
    end

    # puma hands a parsed request to a pool thread (or reads it there).
    module PumaServer
      def handle_request(client, *rest)
        ReqctxBridge.serve(ReqctxBridge.of_io(client.io)) { super }
      end
    end

    # Its pool grows from the thread that queues a client: a new pool
    # thread serves every request to come, none in particular.
    module PumaThreadPool
      def spawn_thread(*args)
        ReqctxBridge.run(nil) { super }
      end
    end

    # The servers are loaded after this file: hook each class when its
    # body first ends.
    NAME = Module.instance_method(:name)
    HOOKS = { 'WEBrick::HTTPRequest' => WEBrickRequest, 'Puma::Server' => PumaServer,
              'Puma::ThreadPool' => PumaThreadPool }.freeze
    @hooked = {}
    @trace = TracePoint.new(:end) do |tp|
      mod = HOOKS[NAME.bind_call(tp.self)] if tp.self.is_a?(Module)
      next unless mod && !@hooked[mod]

      @hooked[mod] = true
      tp.self.prepend(mod)
      @trace.disable if @hooked.size == HOOKS.size
    end
    @trace.enable
  end
end
