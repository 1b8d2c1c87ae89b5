# t_batch_drain's Ruby app: WEBrick (a thread per connection) and two
# consumer threads made at start-up, in no request. GET /<tag>/<id> logs
# "site=arrival id=<id>", pushes <id> on both queues and answers. The
# flusher wakes every 20 ms, pops until its Queue is empty, then logs each
# ("site=drain id=<id>"): a batch. The taker pops one item, logs "took",
# sleeps 10 ms, pops what else is queued (pop(true) until ThreadError),
# logging "took" after each, then logs each ("site=took_done"): a batch
# whose takes each wrote a line. The waiter does the same but its second
# take is a blocking pop, which often waits for the next request
# ("site=waited", then "site=waited_done"); the poller the same, its
# second take a pop(true) polled every 5 ms ("site=polled", then
# "site=polled_done"); a ticker pushes nil (no request's) on both after
# 100 ms without a request, so that the last request's wait ends. The starter pops one item, logs "batch
# started" (no ID), sleeps 10 ms, pops until the queue is empty, then
# logs each ("site=started_done"). The lagger pops with a 50 ms
# Timeout.timeout (a thread Timeout starts per call) and logs each item
# once it popped the next, or timed out ("site=lag id=<id>"): it holds an
# item across a pop. The worker pops one item and logs it ("site=item
# id=<id>"). The pair consumer takes from two queues (a request pushes
# on one of them, by its ID): one item from the first, a line, one from
# the second, a line ("pair took one": no ID), then drains both (pop(true) until
# ThreadError) and writes a line about every item ("site=pair_done").
require 'timeout'
require_relative 'webrick_serve'

$stderr.sync = true
BATCH = Queue.new
ITEMS = Queue.new
TOOK = Queue.new
STARTED = Queue.new
LAG = Queue.new
WAITED = Queue.new
POLLED = Queue.new
PAIR = [Queue.new, Queue.new]

Thread.new do
  loop do
    sleep 0.02
    b = []
    b << BATCH.pop until BATCH.empty?
    b.each { |id| $stderr.write("site=drain id=#{id}\n") }
  end
end
Thread.new do
  loop do
    b = [TOOK.pop]
    $stderr.write("site=took id=#{b[0]}\n")
    sleep 0.01
    loop do
      b << TOOK.pop(true)
    rescue ThreadError
      break
    else
      $stderr.write("site=took id=#{b[-1]}\n")
    end
    b.each { |id| $stderr.write("site=took_done id=#{id}\n") }
  end
end
Thread.new do
  loop do
    b = [STARTED.pop]
    $stderr.write("batch started\n")
    sleep 0.01
    b << STARTED.pop until STARTED.empty?
    b.each { |id| $stderr.write("site=started_done id=#{id}\n") }
  end
end
$waited_at = nil
Thread.new do # ends the last request's wait: nil after 100 ms of no request
  loop do
    sleep 0.02
    at = $waited_at
    next unless at && Process.clock_gettime(Process::CLOCK_MONOTONIC) - at > 0.1

    $waited_at = nil
    WAITED << nil
    POLLED << nil
    PAIR.each { |q| q << nil }
  end
end
Thread.new do
  note = ->(s, id) { $stderr.write("site=#{s} id=#{id}\n") if id }
  loop do
    b = []
    PAIR.each do |q|
      b << q.pop
      $stderr.write("pair took one\n")
    end
    PAIR.each do |q|
      loop do
        b << q.pop(true)
      rescue ThreadError
        break
      end
    end
    b.each { |id| note.call('pair_done', id) }
  end
end
# waited and polled: one item, a line, a second item (a blocking pop, or
# pop(true) polled every 5 ms), a line, then what else is queued, and a
# line about each.
[[WAITED, 'waited', false], [POLLED, 'polled', true]].each do |q, site, poll|
  Thread.new do
    note = ->(s, id) { $stderr.write("site=#{s} id=#{id}\n") if id }
    loop do
      b = [q.pop]
      note.call(site, b[0])
      if poll
        begin
          b << q.pop(true)
        rescue ThreadError
          sleep 0.005
          retry
        end
      else
        b << q.pop
      end
      note.call(site, b[1])
      loop do
        b << q.pop(true)
      rescue ThreadError
        break
      else
        note.call(site, b[-1])
      end
      b.each { |id| note.call("#{site}_done", id) }
    end
  end
end
Thread.new do
  prev = nil
  loop do
    begin
      id = Timeout.timeout(0.05) { LAG.pop }
    rescue Timeout::Error
      $stderr.write("site=lag id=#{prev}\n") if prev
      prev = nil
      next
    end
    $stderr.write("site=lag id=#{prev}\n") if prev
    prev = id
  end
end
Thread.new { loop { $stderr.write("site=item id=#{ITEMS.pop}\n") } }

serve_webrick do |server|
  server.mount_proc('/') do |req, res|
    id = req.path.split('/')[2]
    $stderr.write("site=arrival id=#{id}\n")
    BATCH << id
    ITEMS << id
    TOOK << id
    STARTED << id
    LAG << id
    WAITED << id
    POLLED << id
    PAIR[id.sum % 2] << id
    $waited_at = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    res.body = "ok #{id}\n"
  end
end
