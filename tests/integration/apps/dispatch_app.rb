# t_dispatch's Ruby app: WEBrick, and a dispatcher thread made at start-up
# that pops each job from JOBS and starts a thread for it, writing nothing
# itself. The job's thread logs "site=run id=<id>", sleeps 1 ms, logs
# "site=ran id=<id>" and answers the job's handler. The handler (GET
# /<tag>/<id>: "site=handle id=<id>") waits for its job and logs
# "site=reply id=<id>".
require_relative 'webrick_serve'

JOBS = Queue.new

Thread.new do
  loop do
    id, back = JOBS.pop
    run_job(id, back, true)
  end
end

serve_ids { |id| await_job(JOBS, id) }
