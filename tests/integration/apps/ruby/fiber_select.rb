# A server for t_rt_green whose requests are fibers, switched by a
# scheduler of its own over IO.select and a timer list (as small fiber
# servers and the async gem on nio4r's pure-Ruby selector are). Each
# request writes "site=<site> id=<the id in the query string>" on stderr:
# arrival, after_sleep (after a 1 to 20 ms sleep in which other fibers
# ran) and end; the answer closes the connection.
#   ruby fiber_select.rb PORT
require 'socket'
$stderr.sync = true
server = TCPServer.new('127.0.0.1', ARGV[0].to_i)
$waiting = {}
$timers = []
$ready = []

def wait_read(io)
  $waiting[io] = Fiber.current
  Fiber.yield
end

def fiber_sleep(secs)
  $timers << [Process.clock_gettime(Process::CLOCK_MONOTONIC) + secs, Fiber.current]
  Fiber.yield
end

def handle(conn)
  head = +''
  until head.include?("\r\n\r\n")
    wait_read(conn)
    got = conn.read_nonblock(4096, exception: false)
    return conn.close if got.nil?
    head << got if got.is_a?(String)
  end
  rid = head[/[?&]id=([A-Za-z0-9._-]+)/, 1] || '-'
  $stderr.write("site=arrival id=#{rid}\n")
  fiber_sleep(0.001 + rand * 0.019)
  $stderr.write("site=after_sleep id=#{rid}\n")
  body = "ok #{rid}\n"
  $stderr.write("site=end id=#{rid}\n")
  conn.write("HTTP/1.1 200 OK\r\nContent-Length: #{body.bytesize}\r\nConnection: close\r\n\r\n#{body}")
  conn.close
end

$ready << Fiber.new do
  loop do
    wait_read(server)
    conn = server.accept_nonblock(exception: false)
    $ready << Fiber.new { handle(conn) } if conn.is_a?(TCPSocket)
  end
end

loop do
  $ready.shift.resume until $ready.empty?
  now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  due, $timers = $timers.partition { |at, _| at <= now }
  due.each { |_, fiber| fiber.resume }
  next unless $ready.empty?
  wait = $timers.empty? ? nil : [$timers.map(&:first).min - Process.clock_gettime(Process::CLOCK_MONOTONIC), 0].max
  readable, = IO.select($waiting.keys, nil, nil, wait)
  (readable || []).each { |io| $ready << $waiting.delete(io) }
end
