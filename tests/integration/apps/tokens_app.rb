# t_tokens' Ruby app: WEBrick and a concurrency limit kept as a Queue of
# tokens. A dispatcher thread made at start-up pops a job ("site=dispatch
# id=<id>"), then a token ("site=token id=<id>"), and runs the job in a
# thread of its own ("site=run id=<id>", a 1 ms sleep, "site=ran id=<id>") that
# hands the token to the job's handler. The handler (GET /<tag>/<id>:
# "site=handle id=<id>") waits for its job, logs "site=reply id=<id>",
# pushes the token back and answers.
require_relative 'webrick_serve'

JOBS = Queue.new
TOKENS = Queue.new
2.times { |t| TOKENS.push(t) }

Thread.new do
  loop do
    id, back = JOBS.pop
    log('dispatch', id)
    tok = TOKENS.pop
    log('token', id)
    run_job(id, back, tok)
  end
end

serve_ids { |id| TOKENS.push(await_job(JOBS, id)) }
