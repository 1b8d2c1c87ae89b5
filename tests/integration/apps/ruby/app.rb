# Ruby app for t_rt_ruby. Usage: ruby app.rb webrick|puma PORT
# Every line it writes to stderr is "site=<log-site> id=<id> t=<thread>":
#   arrival       in the handler, first thing
#   after_sleep   after sleep 0.002 in the handler
#   thread        inside a Thread.new the handler starts and joins
#   queue_worker  inside a worker thread started at boot, fed through a
#                 Queue; the handler waits for its answer on another Queue
#   end           in the handler, before it answers
# WEBrick's access log (it shows the path) goes to $stderr too.
$stderr.sync = true

def log(site, id)
  $stderr.puts("site=#{site} id=#{id} t=#{Thread.current.object_id}")
end

JOBS = Queue.new
Thread.new do
  loop do
    id, reply = JOBS.pop
    sleep 0.001
    log("queue_worker", id)
    reply << id
  end
end

def work(query)
  id = (query || "")[/(?:\A|&)id=([^&]*)/, 1] || "-"
  log("arrival", id)
  sleep 0.002
  log("after_sleep", id)
  t = Thread.new { log("thread", id) }
  t.join
  reply = Queue.new
  JOBS << [id, reply]
  reply.pop
  log("end", id)
  "ok #{id}\n"
end

kind, port = ARGV[0], Integer(ARGV[1])
case kind
when "webrick"
  require "webrick"
  server = WEBrick::HTTPServer.new(
    BindAddress: "127.0.0.1", Port: port,
    Logger: WEBrick::Log.new($stderr, WEBrick::Log::WARN),
    AccessLog: [[$stderr, "access \"%r\" %s"]])
  server.mount_proc("/") do |req, res|
    res.body = work(req.query_string)
    res.content_type = "text/plain"
  end
  trap("TERM") { server.shutdown }
  server.start
when "puma"
  # Puma::Server directly: Debian's puma needs no rack for this
  require "puma"
  require "puma/server"
  app = lambda do |env|
    body = work(env["QUERY_STRING"])
    [200, { "Content-Type" => "text/plain", "Content-Length" => body.bytesize.to_s }, [body]]
  end
  server = Puma::Server.new(app, Puma::Events.stdio, min_threads: 8, max_threads: 8)
  server.add_tcp_listener("127.0.0.1", port)
  trap("TERM") { server.stop }
  server.run.join
else
  abort "usage: app.rb webrick|puma PORT"
end
