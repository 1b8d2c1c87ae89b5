# t_queue_shapes' Ruby app: WEBrick handlers and worker threads passing
# items through shared Thread::Queues, in the shapes of
# apps/queue_shapes_app.py (argv[0]: commit, route or pool; the same
# sites). GET /<tag>/<id> logs "site=handle id=<id>" first and
# "site=reply id=<id>" last.
require_relative 'webrick_serve'

MODE = ARGV[0]
PENDING = Queue.new
PENDING_LOCK = Mutex.new
JOBS = Queue.new
RESULTS = Queue.new
POOL = Queue.new
WORK = Queue.new
WAITERS = {}
WAITERS_LOCK = Mutex.new

if MODE == 'route'
  Thread.new do
    loop do
      batch = [JOBS.pop]
      batch << JOBS.pop until JOBS.empty?
      batch.each do |id|
        log('processed', id)
        RESULTS << id
      end
    end
  end
end

if MODE == 'pool'
  6.times { |n| POOL << [:db, n] }
  2.times do
    Thread.new do
      loop do
        id, conn, back = WORK.pop
        log('start', id)
        sleep 0.001
        POOL << conn
        audit = POOL.pop
        log('audit', id)
        sleep 0.0005
        POOL << audit
        log('done', id)
        back << true
      end
    end
  end
end

# The election and the push, and the leader's last look, under one lock:
# a follower that found the queue not empty pushes before the leader can
# find it empty and leave.
def commit(id)
  back = Queue.new
  leader = PENDING_LOCK.synchronize do
    first = PENDING.empty?
    PENDING << [id, back]
    first
  end
  if leader
    sleep 0.002
    loop do
      item = PENDING_LOCK.synchronize { PENDING.empty? ? nil : PENDING.pop }
      break if item.nil?

      other, b = item
      log('commit', other)
      b << true
    end
  end
  back.pop
  log('acked', id)
end

def route(id)
  mine = Queue.new
  WAITERS_LOCK.synchronize { WAITERS[id] = mine }
  JOBS << id
  while mine.empty?
    sleep 0.001
    until RESULTS.empty?
      r = RESULTS.pop
      log('routed', r)
      WAITERS_LOCK.synchronize { WAITERS.delete(r) } << true
    end
  end
  log('got', id)
end

def pooled(id)
  conn = POOL.pop
  log('checkout', id)
  back = Queue.new
  WORK << [id, conn, back]
  back.pop
end

serve_ids do |id|
  log('handle', id)
  send({ 'commit' => :commit, 'route' => :route, 'pool' => :pooled }[MODE], id)
  log('reply', id)
end
