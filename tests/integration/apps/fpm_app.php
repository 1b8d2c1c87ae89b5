<?php
// PHP script for t_frontends: every line names the id from the query string
// and this run of the script (run=, 8 hex digits).
//   site=error_log  through error_log() (php_admin_value[error_log] = the stderr pipe)
//   site=stderr     written to php://stderr
//   site=burstNN    FPM_BURST more lines (the pool's env[]), each way in turn
$id = isset($_GET['id']) ? preg_replace('/[^A-Za-z0-9._-]/', '', $_GET['id']) : '-';
// this run of the script: a request php-fpm runs twice (nginx's retry)
// writes its lines twice, each time with another run=
$run = bin2hex(random_bytes(4));
error_log("site=error_log id=$id run=$run");
file_put_contents('php://stderr', "site=stderr id=$id run=$run\n");
$burst = min(60, intval(getenv('FPM_BURST') ?: 0));
for ($k = 0; $k < $burst; $k++) {
    $line = sprintf("site=burst%02d id=%s run=%s", $k, $id, $run);
    if ($k % 2)
        file_put_contents('php://stderr', "$line\n");
    else
        error_log($line);
}
header('Content-Type: text/plain');
echo "ok $id\n";
