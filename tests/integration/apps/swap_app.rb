# t_swap's Ruby app: WEBrick handlers that exchange items through a shared
# Queue. Each request (GET /<tag>/<id>) logs "site=handle id=<id>", pushes
# its ID on PAIRS, waits until another ID is there too (up to 30 ms) and
# pops the first: often another request's. It logs "site=swap id=<popped>", "site=after id=<own>" and
# "site=reply id=<own>". A connection's thread serves every request of its
# keep-alive connection, so the ID it pushes in a later request goes on a
# queue it popped from before. ARGV[0] "thread": the pop is made in a
# thread of its own, whose value the handler takes
# (Thread.new { PAIRS.pop }.value).
require_relative 'webrick_serve'

PAIRS = Queue.new

serve_ids do |id|
  log('handle', id)
  PAIRS.push(id)
  30.times do
    break if PAIRS.size >= 2

    sleep 0.001
  end
  other = ARGV[0] == 'thread' ? Thread.new { PAIRS.pop }.value : PAIRS.pop
  log('swap', other)
  log('after', id)
  log('reply', id)
end
