# Object pools on Thread::Queue for t_bridge_ruby (WEBrick, a thread per
# connection). GET /<tag>/<id> logs, each line naming the id: on arrival;
# after checking one out of a pool that grows inside requests (an object
# made by one request, checked in, then checked out by another: "lazy");
# after checking an object out of a pool filled at start-up ("pooled").
require_relative 'webrick_serve'

BOOT = Queue.new
2.times { BOOT << Object.new }
LAZY = Queue.new

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
    res.body = "ok #{id}"
  end
end
