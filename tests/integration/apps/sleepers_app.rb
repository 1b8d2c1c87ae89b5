# tests/integration/t_sleepers, the Ruby half (WEBrick): GET /<tag>/<id>
# logs "site=arrival id=<id>", starts a thread of its own that sleeps
# 0.03 s and then writes one line per id it takes from an Array every
# request fills ("site=flush id=<id>": any request's, not only its
# starter's), puts <id> in that Array, sleeps 0.06 s and answers.
require_relative 'webrick_serve'

SHARED = []

serve_ids do |id|
  log('arrival', id)
  Thread.new do
    sleep 0.03
    while (x = SHARED.shift)
      log('flush', x)
    end
  end
  SHARED << id
  sleep 0.06
end
