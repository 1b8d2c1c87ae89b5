# tests/bench/bridges: a minimal WEBrick or puma (Puma::Server, 8 threads)
# server. Usage: ruby bridge_ruby.rb webrick|puma. Each request logs a line
# on arrival and one after sleep 0, hands a job to a worker thread started
# at boot through a Queue and waits for its answer on another, then answers.
require 'socket'
$stderr.sync = true
JOBS = Queue.new
Thread.new do
  loop do
    path, reply = JOBS.pop
    reply << path
  end
end

def work(path)
  $stderr.puts "arrival #{path}"
  sleep 0
  reply = Queue.new
  JOBS << [path, reply]
  reply.pop
  $stderr.puts "done #{path}"
  "ok\n"
end

port = TCPServer.open('127.0.0.1', 0) { |s| s.addr[1] }
case ARGV[0]
when 'webrick'
  require 'webrick'
  server = WEBrick::HTTPServer.new(BindAddress: '127.0.0.1', Port: port,
                                   Logger: WEBrick::Log.new($stderr, WEBrick::Log::WARN),
                                   AccessLog: [])
  server.mount_proc('/') { |req, res| res.body = work(req.path) }
  trap('TERM') { server.shutdown }
  $stdout.puts "listening #{port}"
  $stdout.flush
  server.start
when 'puma'
  require 'puma'
  require 'puma/server'
  app = lambda do |env|
    body = work(env['PATH_INFO'])
    [200, { 'Content-Type' => 'text/plain', 'Content-Length' => body.bytesize.to_s }, [body]]
  end
  server = Puma::Server.new(app, Puma::Events.strings, min_threads: 8, max_threads: 8)
  server.add_tcp_listener('127.0.0.1', port)
  trap('TERM') { server.stop }
  th = server.run
  $stdout.puts "listening #{port}"
  $stdout.flush
  th.join
else
  abort 'usage: bridge_ruby.rb webrick|puma'
end
