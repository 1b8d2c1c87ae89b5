# tests/integration/t_main_thread: WEBrick whose main thread (its
# acceptor) runs a trap handler that drains the ids every request queued
# and then signalled ("site=sig_flush id=<id>"). GET /<tag>/<id> logs
# "site=arrival id=<id>", queues <id>, signals and answers. It checks
# that trap gives back the program's own handler ("handler check failed"
# if not).
require_relative 'webrick_serve'

PENDING = []
FLUSH = proc do
  while (x = PENDING.shift)
    $stderr.write("site=sig_flush id=#{x}\n")
  end
end
trap('USR1', FLUSH)
$stderr.write("handler check failed\n") unless trap('USR1', FLUSH).equal?(FLUSH)

serve_webrick do |server|
  server.mount_proc('/') do |req, res|
    id = req.path.split('/')[2]
    $stderr.write("site=arrival id=#{id}\n")
    PENDING << id
    Process.kill('USR1', Process.pid)
    res.body = "ok #{id}"
  end
end
