# A small WEBrick server for t_bridge_ruby (a thread per connection).
# GET /<tag>/<id> logs one stderr line per log-site, each naming the id: on
# arrival, in a pool worker that took the job from a Thread::Queue, back in
# the handler after the worker's answer came through another queue, and in
# a thread the handler starts.
require_relative 'webrick_serve'

JOBS = Queue.new
2.times do
  Thread.new do
    loop do
      id, done = JOBS.pop
      sleep(rand * 0.003)
      $stderr.puts "site=worker id=#{id}"
      done << 1
    end
  end
end

serve_webrick do |server|
  server.mount_proc('/') do |req, res|
    id = req.path.split('/')[2]
    $stderr.puts "site=arrival id=#{id}"
    done = Queue.new
    JOBS << [id, done]
    done.pop
    $stderr.puts "site=answer id=#{id}"
    Thread.new { $stderr.puts "site=thread id=#{id}" }.join
    res.body = "ok #{id}"
  end
end
