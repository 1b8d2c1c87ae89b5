# tests/integration/t_forked_helpers: WEBrick (a thread per connection)
# whose first request forks a helper that reads every later request's id
# from an IO.pipe ("site=pipe_helper id=<id>"), and whose every request
# forks a child that logs "site=fork_job id=<id>" (that request's own
# work) and exits. GET /<tag>/<id> logs "site=arrival id=<id>" first.
require_relative 'webrick_serve'

R, W = IO.pipe
LOCK = Mutex.new
$helper = nil

serve_webrick do |server|
  server.mount_proc('/') do |req, res|
    id = req.path.split('/')[2]
    $stderr.write("site=arrival id=#{id}\n")
    LOCK.synchronize do
      $helper ||= fork do
        W.close
        R.each_line { |l| $stderr.write("site=pipe_helper id=#{l.strip}\n") }
        exit!(0)
      end
    end
    W.write("#{id}\n")
    pid = fork do
      $stderr.write("site=fork_job id=#{id}\n")
      exit!(0)
    end
    Process.wait(pid)
    res.body = "ok #{id}"
  end
end
