# tests/integration/t_sleepers, the Ruby half (WEBrick): GET /<tag>/<id>
# logs "site=arrival id=<id>", starts a thread of its own that sleeps
# 0.03 s and then writes one line per id it takes from an Array every
# request fills ("site=flush id=<id>": any request's, not only its
# starter's), puts <id> in that Array, sleeps 0.06 s and answers.
# An id of tag "rbpipe" (GET /rbpipe/<id>) instead writes <id> to a pipe
# every such request writes to, and joins a helper that reads one id
# from it (any request's), sleeps 0.01 s and logs "site=joinpipe". Tags
# "rbk" and "rbs": the flusher sleeps with Kernel.sleep, or with
# Kernel#select on no IO.
require_relative 'webrick_serve'

SHARED = []
R, W = IO.pipe
TOKEN = 64

serve_ids do |id|
  log('arrival', id)
  if id.start_with?('rbpipe-')
    W.write(id.ljust(TOKEN))
    Thread.new do
      got = R.read(TOKEN).strip
      sleep 0.01
      log('joinpipe', got)
    end.join
    next
  end
  Thread.new do
    if id.start_with?('rbk-')
      Kernel.sleep 0.03
    elsif id.start_with?('rbs-')
      select(nil, nil, nil, 0.03)
    else
      sleep 0.03
    end
    while (x = SHARED.shift)
      log('flush', x)
    end
  end
  SHARED << id
  sleep 0.06
end
