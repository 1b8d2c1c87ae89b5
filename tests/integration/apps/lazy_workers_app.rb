# tests/integration/t_lazy_workers: WEBrick (a thread per connection)
# whose first request starts a worker thread that takes every later
# request's job from an IO.pipe. GET /<tag>/<id> logs "site=arrival
# id=<id>", runs a thread that logs "site=oneshot id=<id>" (its request's)
# and one it joins that sleeps first ("site=joined id=<id>", its too),
# writes <id> to the pipe (the worker logs "site=pipe_job id=<id>"),
# queues it in an Array a flusher the first request started drains after
# each sleep (it logs "site=sleep_job id=<id>"), and in another that one
# drains after each IO.select on nothing ("site=select_job"), and answers. The first
# request is a long poll: it answers 0.3 s after it started the workers.
require_relative 'webrick_serve'

R, W = IO.pipe
LOCK = Mutex.new
PENDING = []
SELECTED = []
$worker = nil

serve_webrick do |server|
  server.mount_proc('/') do |req, res|
    id = req.path.split('/')[2]
    $stderr.puts "site=arrival id=#{id}"
    first = false
    LOCK.synchronize do
      unless $worker
        first = true
        $worker = Thread.new { R.each_line { |l| $stderr.puts "site=pipe_job id=#{l.strip}" } }
      end
    end
    if first
      Thread.new do
        loop do
          sleep 0.02
          while (x = PENDING.shift)
            $stderr.write("site=sleep_job id=#{x}\n")
          end
        end
      end
      Thread.new do
        loop do
          IO.select(nil, nil, nil, 0.02)
          while (x = SELECTED.shift)
            $stderr.write("site=select_job id=#{x}\n")
          end
        end
      end
    end
    Thread.new { $stderr.puts "site=oneshot id=#{id}" }.join
    # a helper the request joins, sleeping first (a retry's backoff); it
    # sleeps once the request is in its join (a loaded machine may not
    # have run the request's thread again within the sleep: ASan, 1 of 40)
    req = Thread.current
    Thread.new do
      Thread.pass until req.status == "sleep"
      sleep 0.05
      $stderr.write("site=joined id=#{id}\n")
    end.join
    W.write("#{id}\n")
    PENDING << id
    SELECTED << id
    sleep 0.3 if first
    res.body = "ok #{id}"
  end
end
