# tests/integration/t_lazy_workers: WEBrick (a thread per connection)
# whose first request starts a worker thread that takes every later
# request's job from an IO.pipe. GET /<tag>/<id> logs "site=arrival
# id=<id>", runs a thread that logs "site=oneshot id=<id>" (its request's),
# writes <id> to the pipe (the worker logs "site=pipe_job id=<id>") and
# answers.
require_relative 'webrick_serve'

R, W = IO.pipe
LOCK = Mutex.new
$worker = nil

serve_webrick do |server|
  server.mount_proc('/') do |req, res|
    id = req.path.split('/')[2]
    $stderr.puts "site=arrival id=#{id}"
    LOCK.synchronize do
      $worker ||= Thread.new { R.each_line { |l| $stderr.puts "site=pipe_job id=#{l.strip}" } }
    end
    Thread.new { $stderr.puts "site=oneshot id=#{id}" }.join
    W.write("#{id}\n")
    res.body = "ok #{id}"
  end
end
