# Object pools on Thread::Queue for t_bridge_ruby (WEBrick, a thread per
# connection). GET /<tag>/<id> logs, each line naming the id: on arrival;
# after checking one out of a pool that grows inside requests (an object
# made by one request, checked in, then checked out by another: "lazy");
# after checking an object out of a pool filled at start-up ("pooled").
require 'webrick'

BOOT = Queue.new
2.times { BOOT << Object.new }
LAZY = Queue.new

server = WEBrick::HTTPServer.new(BindAddress: '127.0.0.1', Port: 0,
                                 Logger: WEBrick::Log.new($stderr, WEBrick::BasicLog::WARN),
                                 AccessLog: [])
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
  res.body = "ok #{id}"
end
trap('TERM') { server.shutdown }
$stdout.puts "listening #{server.listeners[0].addr[1]}"
$stdout.flush
server.start
