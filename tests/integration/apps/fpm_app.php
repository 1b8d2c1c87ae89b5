<?php
// PHP script for t_frontends: every line names the id from the query string.
//   site=error_log  through error_log() (php_admin_value[error_log] = the stderr pipe)
//   site=stderr     written to php://stderr
$id = isset($_GET['id']) ? preg_replace('/[^A-Za-z0-9._-]/', '', $_GET['id']) : '-';
error_log("site=error_log id=$id");
file_put_contents('php://stderr', "site=stderr id=$id\n");
header('Content-Type: text/plain');
echo "ok $id\n";
