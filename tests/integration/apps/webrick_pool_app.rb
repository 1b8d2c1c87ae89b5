# Object pools on Thread::Queue for t_bridge_ruby (WEBrick, a thread per
# connection). GET /<tag>/<id> logs, each line naming the id: on arrival;
# after checking one out of a pool that grows inside requests (an object
# made by one request, checked in, then checked out by another: "lazy");
# after checking an object out of a pool filled at start-up ("pooled");
# after checking one out of a pool that a request asks empty? first and
# fills itself when it is ("checked"), which a thread started with the
# program borrows from too, blocking in pop ("site=bg id=bg-<n>": it
# serves no request); and hands a job to a pool of threads it starts
# itself on the first request, fed through a ConditionVariable.
require_relative 'webrick_serve'

BOOT = Queue.new
2.times { BOOT << Object.new }
LAZY = Queue.new
ASKED = Queue.new

# A pool of two threads fed through a Mutex and a ConditionVariable,
# started by the first request: its jobs serve whichever request pushed
# them, which nothing names ("site=cvjob id=<id>": no ID, or its own).
CV_LOCK = Mutex.new
CV = ConditionVariable.new
CV_JOBS = []
CV_POOL = []

def cv_pool_job(id)
  CV_LOCK.synchronize do
    if CV_POOL.empty?
      2.times do
        CV_POOL << Thread.new do
          loop do
            k = CV_LOCK.synchronize do
              CV.wait(CV_LOCK) while CV_JOBS.empty?
              CV_JOBS.shift
            end
            $stderr.puts "site=cvjob id=#{k}"
          end
        end
      end
    end
    CV_JOBS << id
    CV.signal
  end
end

Thread.new do
  n = 0
  loop do
    obj = ASKED.pop
    $stderr.puts "site=bg id=bg-#{n += 1}"
    ASKED << obj
    sleep 0.005
  end
end

serve_webrick do |server|
  server.mount_proc('/') do |req, res|
    id = req.path.split('/')[2]
    $stderr.puts "site=arrival id=#{id}"
    obj = begin
      LAZY.pop(true)
    rescue ThreadError
      Object.new
    end
    $stderr.puts "site=lazy id=#{id}"
    LAZY << obj
    obj = BOOT.pop
    $stderr.puts "site=pooled id=#{id}"
    BOOT << obj
    obj = begin
      ASKED.empty? ? Object.new : ASKED.pop(true)
    rescue ThreadError
      Object.new
    end
    $stderr.puts "site=checked id=#{id}"
    ASKED << obj
    cv_pool_job(id)
    res.body = "ok #{id}"
  end
end
