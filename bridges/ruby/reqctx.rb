# reqctx.rb - the Ruby bridge of reqctx, loaded by the agent through
# RUBYOPT=-r (agent/bridge.c). It does nothing without the agent.
#
# NOT BUILT OR INSTALLED YET (bridges/bridges.mk): with it, WEBrick under
# tests/integration/t_bridge_ruby stalls most requests for seconds; the
# cause is not found yet. The agent only loads a bridge that is built.
#
# Ruby may start a Thread on a cached native thread woken by a condvar
# (no pthread_create for the agent to see), and Thread::Queue hands work
# between threads in memory. Here:
# - Thread.new/start/fork capture the creator's context (the agent's
#   current one) and enter it in the new
#   thread for the block's duration;
# - Queue#push (<<, enq) wraps the item with the pusher's snapshot;
#   pop (shift, deq) unwraps it and the popping thread takes that context
#   (none when the item carried none).
module ReqctxBridge
  # The agent added "-r<this file>" to RUBYOPT: take it out again so the
  # programs this one starts inherit the user's value.
  begin
    piece = "-r#{__FILE__}"
    if (v = ENV['RUBYOPT']) && v.include?(piece)
      rest = v.sub(" #{piece}", '').sub(piece, '')
      rest.strip.empty? ? ENV.delete('RUBYOPT') : ENV['RUBYOPT'] = rest
    end
  rescue StandardError
    nil
  end

  begin
    require 'fiddle'
    h = Fiddle::Handle::DEFAULT
    P = Fiddle::TYPE_VOIDP
    SNAPSHOT = Fiddle::Function.new(h['reqctx_api_snapshot'], [], P)
    ENTER = Fiddle::Function.new(h['reqctx_api_enter'], [P], P)
    LEAVE = Fiddle::Function.new(h['reqctx_api_leave'], [P], Fiddle::TYPE_VOID)
    RELEASE = Fiddle::Function.new(h['reqctx_api_release'], [P], Fiddle::TYPE_VOID)
    ACTIVE = true
  rescue LoadError, StandardError
    ACTIVE = false
  end

  # A snapshot owned by Ruby, released when unreachable.
  class Snap
    attr_reader :ptr

    def initialize(ptr)
      @ptr = ptr
      ObjectSpace.define_finalizer(self, Snap.releaser(ptr))
    end

    def self.releaser(ptr)
      proc { RELEASE.call(ptr) }
    end
  end

  Item = Struct.new(:snap, :obj)

  module_function

  # Ruby threads are native threads: the agent's current context is the
  # thread's own (a thread per connection follows its socket).
  def capture
    p = SNAPSHOT.call
    p.null? ? nil : Snap.new(p)
  end

  def run(snap)
    prev = ENTER.call(snap ? snap.ptr : nil)
    begin
      yield
    ensure
      LEAVE.call(prev)
    end
  end

  def take(snap)
    RELEASE.call(ENTER.call(snap ? snap.ptr : nil))
  end

  if ACTIVE
    thread_new = Module.new do
      %i[new start fork].each do |m|
        define_method(m) do |*args, **kw, &blk|
          return super(*args, **kw, &blk) unless blk
          s = ReqctxBridge.capture
          super(*args, **kw) { |*a, **k| ReqctxBridge.run(s) { blk.call(*a, **k) } }
        end
      end
    end
    Thread.singleton_class.prepend(thread_new)

    queue = Module.new do
      %i[push << enq].each do |m|
        define_method(m) do |obj, *rest|
          super(Item.new(ReqctxBridge.capture, obj), *rest)
        end
      end
      %i[pop shift deq].each do |m|
        define_method(m) do |*args, **kw|
          v = super(*args, **kw)
          return v unless v.is_a?(Item)
          ReqctxBridge.take(v.snap)
          v.obj
        end
      end
    end
    Thread::Queue.prepend(queue)
    Thread::SizedQueue.prepend(queue)
  end
end
