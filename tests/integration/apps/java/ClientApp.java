// tests/integration/t_java_client: com.sun.net.httpserver.HttpServer on a
// fixed pool of 4 threads whose handlers call a leaf service through one
// shared java.net.http.HttpClient (HTTP/1.1: its own selector thread, its
// own worker threads writing the callers' requests, one pool of keep-alive
// connections). GET /<tag>/<id> logs "site=arrival id=<id>", calls
// GET /leaf/<id>, then logs "site=called id=<id>". A scheduled task the app
// starts with itself calls GET /leaf/bg-<n> through the same client every
// 20 ms, logging "site=bg id=bg-<n>" before and after: it serves no request.
// Prints "listening <port>" once it listens.
import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

public class ClientApp {
    public static void main(String[] args) throws Exception {
        int leaf = Integer.parseInt(System.getenv("LEAF_PORT"));
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
        server.setExecutor(Executors.newFixedThreadPool(4));
        server.createContext("/", ex -> {
            String id = ex.getRequestURI().getPath().split("/")[2];
            System.err.println("site=arrival id=" + id);
            try {
                client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + leaf + "/leaf/" + id)).build(),
                            HttpResponse.BodyHandlers.ofString());
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
            System.err.println("site=called id=" + id);
            byte[] body = ("ok " + id).getBytes();
            ex.sendResponseHeaders(200, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        AtomicInteger n = new AtomicInteger();
        ScheduledExecutorService bg = Executors.newSingleThreadScheduledExecutor();
        bg.scheduleWithFixedDelay(() -> {
            String id = "bg-" + n.incrementAndGet();
            System.err.println("site=bg id=" + id);
            try {
                client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + leaf + "/leaf/" + id)).build(),
                            HttpResponse.BodyHandlers.ofString());
            } catch (Exception e) {
                System.err.println("site=bg id=" + id + " failed " + e);
            }
            System.err.println("site=bg id=" + id);
        }, 20, 20, TimeUnit.MILLISECONDS);
        server.start();
        System.out.println("listening " + server.getAddress().getPort());
        System.out.flush();
    }
}
