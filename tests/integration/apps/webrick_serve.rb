# The WEBrick server of t_bridge_ruby's apps: 127.0.0.1, a free port,
# warnings only, no access log. serve_webrick yields the server for its
# mounts, prints "listening <port>", and serves until SIGTERM.
require 'webrick'

def serve_webrick
  server = WEBrick::HTTPServer.new(BindAddress: '127.0.0.1', Port: 0,
                                   Logger: WEBrick::Log.new($stderr, WEBrick::BasicLog::WARN),
                                   AccessLog: [])
  yield server
  trap('TERM') { server.shutdown }
  $stdout.puts "listening #{server.listeners[0].addr[1]}"
  $stdout.flush
  server.start
end
