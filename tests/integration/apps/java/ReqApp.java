// Java app for t_rt_java: com.sun.net.httpserver.HttpServer on a fixed
// thread pool, or, with "inline", on none (setExecutor(null): the
// server's dispatcher thread reads each request and runs its handler
// itself). Every line it writes to stderr is
// "site=<log-site> id=<the id in the query string> t=<thread name>":
//   arrival      in the handler, first thing
//   slept        after a 2 ms Thread.sleep
//   pool_job     inside a CompletableFuture job on a second fixed pool,
//                which the handler waits for
//   thread       inside a Thread the handler starts and joins
//   sync_inside  inside a synchronized block shared by all requests, held ~1 ms
//   sync_after   right after leaving it
//   end          in the handler, before it answers
// Usage: java ReqApp PORT [inline]
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

public class ReqApp {
    static final ExecutorService JOBS = Executors.newFixedThreadPool(4);
    static final Object LOCK = new Object();

    static void log(String site, String id) {
        System.err.println("site=" + site + " id=" + id + " t=" + Thread.currentThread().getName());
    }

    static String idOf(HttpExchange ex) {
        String q = ex.getRequestURI().getRawQuery();
        if (q != null) {
            for (String kv : q.split("&")) {
                if (kv.startsWith("id=")) return kv.substring(3);
            }
        }
        return "-";
    }

    static void handle(HttpExchange ex) throws Exception {
        final String id = idOf(ex);
        log("arrival", id);
        Thread.sleep(2);
        log("slept", id);
        CompletableFuture.supplyAsync(() -> { log("pool_job", id); return id; }, JOBS).get();
        Thread t = new Thread(() -> log("thread", id));
        t.start();
        t.join();
        synchronized (LOCK) {
            Thread.sleep(1);
            log("sync_inside", id);
        }
        log("sync_after", id);
        log("end", id);
        byte[] body = ("ok " + id + "\n").getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "text/plain");
        ex.sendResponseHeaders(200, body.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(body);
        }
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 128);
        boolean inline = args.length > 1 && args[1].equals("inline");
        server.setExecutor(inline ? null : Executors.newFixedThreadPool(8));
        server.createContext("/", ex -> {
            try {
                handle(ex);
            } catch (Exception e) {
                System.err.println("error " + e);
                ex.sendResponseHeaders(500, -1);
                ex.close();
            }
        });
        server.start();
        System.out.println("listening " + port);
    }
}
