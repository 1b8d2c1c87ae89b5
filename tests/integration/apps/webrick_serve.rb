# The WEBrick server of t_bridge_ruby's apps: 127.0.0.1, a free port,
# warnings only, no access log. serve_webrick yields the server for its
# mounts, prints "listening <port>", and serves until SIGTERM.
# serve_ids mounts GET /<tag>/<id> on it: the block runs with the id in the
# request's thread, and the answer is "ok <id>". log writes one scored
# line, "site=<site> id=<id>", in one write; run_job starts a dispatcher's
# job thread, await_job is its handler's wait.
require 'webrick'

def log(site, id)
  $stderr.write("site=#{site} id=#{id}\n")
end

# A dispatcher's job thread (t_dispatch, t_tokens): logs "site=run id=<id>",
# sleeps 1 ms, logs "site=ran id=<id>" and pushes `result` to the job's
# handler on `back`. Started by the caller's thread (Thread.new there).
def run_job(id, back, result)
  Thread.new do
    log('run', id)
    sleep 0.001
    log('ran', id)
    back.push(result)
  end
end

# Its handler's side: logs "site=handle id=<id>", queues [id, back] on
# `jobs`, waits for the job's result on `back`, logs "site=reply id=<id>"
# and returns the result.
def await_job(jobs, id)
  log('handle', id)
  back = Queue.new
  jobs.push([id, back])
  result = back.pop
  log('reply', id)
  result
end

def serve_ids
  serve_webrick do |server|
    server.mount_proc('/') do |req, res|
      id = req.path.split('/')[2]
      yield id
      res.body = "ok #{id}\n"
    end
  end
end

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
