# t_finalizers' Ruby app: WEBrick. Each request (GET /<tag>/<id>) logs
# "site=handle id=<id>", runs GC.start (finalizing earlier requests'
# objects), then makes an object whose finalizer logs "site=final
# id=<id>", and logs "site=reply id=<id>". At exit Ruby runs the
# finalizers left, in no request.
require_relative 'webrick_serve'

def leave_garbage(id)
  ObjectSpace.define_finalizer(Object.new, proc { log('final', id) })
  nil
end

serve_ids do |id|
  log('handle', id)
  GC.start
  leave_garbage(id)
  log('reply', id)
end
