# t_batch_drain's Ruby app: WEBrick (a thread per connection) and two
# consumer threads made at start-up, in no request. GET /<tag>/<id> logs
# "site=arrival id=<id>", pushes <id> on both queues and answers. The
# flusher wakes every 20 ms, pops until its Queue is empty, then logs each
# ("site=drain id=<id>"): a batch. The worker pops one item and logs it
# ("site=item id=<id>").
require_relative 'webrick_serve'

$stderr.sync = true
BATCH = Queue.new
ITEMS = Queue.new

Thread.new do
  loop do
    sleep 0.02
    b = []
    b << BATCH.pop until BATCH.empty?
    b.each { |id| $stderr.write("site=drain id=#{id}\n") }
  end
end
Thread.new { loop { $stderr.write("site=item id=#{ITEMS.pop}\n") } }

serve_webrick do |server|
  server.mount_proc('/') do |req, res|
    id = req.path.split('/')[2]
    $stderr.write("site=arrival id=#{id}\n")
    BATCH << id
    ITEMS << id
    res.body = "ok #{id}\n"
  end
end
