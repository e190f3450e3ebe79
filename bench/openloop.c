/*
 * openloop: a fixed-rate (open-loop) HTTP/1.1 GET load generator for `make bench`.
 *
 *   openloop HOST PORT RATE SECONDS CONNECTIONS GRACE REQUESTS_FILE
 *
 * REQUESTS_FILE holds complete GET requests, each ending in an empty line ("\r\n\r\n"); they
 * are sent in turn, over and over. Request i is due at start + i / RATE; it goes out on the
 * first idle keep-alive connection once due, and its latency counts from its due time, not
 * from when it was sent, so a server (or a generator) that falls behind cannot hide the queue
 * (no coordinated omission). One request in flight per connection, one thread, epoll.
 *
 * Prints one JSON object: scheduled, answered (any status), ok (2xx), seconds, latency
 * percentiles in ms, how late requests went out (send_lag_*: the backlog waiting for a free
 * connection), and the count per status. Built by bench/openloop.py with the system's gcc.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUFFER 65536
#define MAX_STATUS 600

typedef struct {
    int fd;
    int busy;
    double due;
    size_t used;
    char buffer[BUFFER];
} Conn;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *sorted, long n, double q) {
    if (n == 0) return 0.0;
    long i = (long)(q * (double)n);
    if (i > n - 1) i = n - 1;
    return sorted[i] * 1000.0;
}

static int open_connection(const char *host, int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &address.sin_addr) != 1) {
        close(fd);
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Length of the complete response at the start of buf, 0 if incomplete, -1 if unparsable. */
static long response_length(const char *buf, size_t used, int *status) {
    const char *end = memmem(buf, used, "\r\n\r\n", 4);
    if (end == NULL) return 0;
    size_t head = (size_t)(end - buf) + 4;
    if (used < 12 || memcmp(buf, "HTTP/1.", 7) != 0) return -1;
    *status = atoi(buf + 9);
    long length = 0;
    for (const char *line = buf; line < end;) {
        const char *next = memmem(line, (size_t)(end - line) + 2, "\r\n", 2);
        if (next == NULL) break;
        if ((size_t)(next - line) > 15 && strncasecmp(line, "content-length:", 15) == 0) {
            length = atol(line + 15);
        } else if (strncasecmp(line, "transfer-encoding:", 18) == 0) {
            return -1; /* chunked answers are not expected from the servers measured */
        }
        line = next + 2;
    }
    if (used < head + (size_t)length) return 0;
    return (long)(head + (size_t)length);
}

static char *read_file(const char *path, size_t *size) {
    FILE *file = fopen(path, "rb");
    if (file == NULL) return NULL;
    fseek(file, 0, SEEK_END);
    long length = ftell(file);
    fseek(file, 0, SEEK_SET);
    char *data = malloc((size_t)length + 1);
    if (data == NULL || fread(data, 1, (size_t)length, file) != (size_t)length) {
        fclose(file);
        free(data);
        return NULL;
    }
    fclose(file);
    data[length] = 0;
    *size = (size_t)length;
    return data;
}

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: %s HOST PORT RATE SECONDS CONNECTIONS GRACE REQUESTS_FILE\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    double rate = atof(argv[3]), seconds = atof(argv[4]), grace = atof(argv[6]);
    int count = atoi(argv[5]);
    size_t size = 0;
    char *data = read_file(argv[7], &size);
    if (data == NULL || rate <= 0 || seconds <= 0 || count <= 0) {
        fprintf(stderr, "openloop: bad arguments or unreadable %s\n", argv[7]);
        return 2;
    }
    /* Split the file into requests. */
    long n_requests = 0, capacity = 1024;
    const char **requests = malloc(sizeof(char *) * (size_t)capacity);
    size_t *lengths = malloc(sizeof(size_t) * (size_t)capacity);
    for (char *at = data; at < data + size;) {
        char *end = memmem(at, (size_t)(data + size - at), "\r\n\r\n", 4);
        if (end == NULL) break;
        if (n_requests == capacity) {
            capacity *= 2;
            requests = realloc(requests, sizeof(char *) * (size_t)capacity);
            lengths = realloc(lengths, sizeof(size_t) * (size_t)capacity);
        }
        requests[n_requests] = at;
        lengths[n_requests++] = (size_t)(end + 4 - at);
        at = end + 4;
    }
    if (n_requests == 0) {
        fprintf(stderr, "openloop: no request in %s\n", argv[7]);
        return 2;
    }
    long total = (long)(seconds * rate);
    double *latencies = malloc(sizeof(double) * (size_t)(total + 1));
    double *lags = malloc(sizeof(double) * (size_t)(total + 1));
    long statuses[MAX_STATUS] = {0};
    long answered = 0, ok = 0, connection_errors = 0, sent = 0, in_flight = 0;

    int epoll = epoll_create1(0);
    Conn *conns = calloc((size_t)count, sizeof(Conn));
    int *idle = malloc(sizeof(int) * (size_t)count);
    int n_idle = 0;
    for (int i = 0; i < count; i++) {
        conns[i].fd = open_connection(host, port);
        if (conns[i].fd < 0) {
            fprintf(stderr, "openloop: cannot connect to %s:%d\n", host, port);
            return 1;
        }
        struct epoll_event event = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)i};
        epoll_ctl(epoll, EPOLL_CTL_ADD, conns[i].fd, &event);
        idle[n_idle++] = i;
    }
    /* Let the connections finish their handshakes before the clock starts. */
    struct timespec settle = {0, 50 * 1000 * 1000};
    nanosleep(&settle, NULL);

    double start = now_s(), last = start, stop = start + seconds + grace;
    double interval = 1.0 / rate;
    struct epoll_event events[256];
    for (;;) {
        double now = now_s();
        /* Send every request that is due, as long as a connection is free. */
        while (sent < total && n_idle > 0 && start + (double)sent * interval <= now) {
            int i = idle[--n_idle];
            Conn *conn = &conns[i];
            const char *request = requests[sent % n_requests];
            size_t length = lengths[sent % n_requests];
            conn->due = start + (double)sent * interval;
            lags[sent] = now - conn->due;
            sent++;
            ssize_t wrote = write(conn->fd, request, length);
            if (wrote != (ssize_t)length) {
                connection_errors++;
                close(conn->fd);
                conn->fd = -1;
                continue;
            }
            conn->busy = 1;
            in_flight++;
        }
        if ((sent >= total && in_flight == 0) || now >= stop) break;
        if (in_flight == 0 && n_idle == 0) break; /* every connection failed */
        /* Sleep until the next request is due, an answer comes, or (at most) 50 ms. */
        double until = stop - now;
        if (sent < total && n_idle > 0) {
            double next = start + (double)sent * interval - now;
            if (next < until) until = next;
        } else if (until > 0.05) {
            until = 0.05;
        }
        if (until < 0) until = 0;
        struct timespec wait;
        wait.tv_sec = (time_t)until;
        wait.tv_nsec = (long)((until - (double)wait.tv_sec) * 1e9);
        int ready = epoll_pwait2(epoll, events, 256, &wait, NULL);
        if (ready < 0 && errno != EINTR) {
            perror("epoll_pwait2");
            return 1;
        }
        for (int e = 0; e < ready; e++) {
            int i = (int)events[e].data.u32;
            Conn *conn = &conns[i];
            if (conn->fd < 0) continue;
            int dead = 0;
            for (;;) {
                ssize_t got = read(conn->fd, conn->buffer + conn->used, BUFFER - conn->used);
                if (got > 0) {
                    conn->used += (size_t)got;
                    if (conn->used == BUFFER) break;
                    continue;
                }
                if (got == 0 || (errno != EAGAIN && errno != EINTR)) dead = 1;
                break;
            }
            int status = 0;
            long length = conn->busy ? response_length(conn->buffer, conn->used, &status) : 0;
            if (length > 0) {
                double answered_at = now_s();
                latencies[answered++] = answered_at - conn->due;
                last = answered_at;
                if (status >= 0 && status < MAX_STATUS) statuses[status]++;
                if (status >= 200 && status < 300) ok++;
                memmove(conn->buffer, conn->buffer + length, conn->used - (size_t)length);
                conn->used -= (size_t)length;
                conn->busy = 0;
                in_flight--;
                if (!dead) idle[n_idle++] = i;
            } else if (length < 0 || conn->used == BUFFER) {
                dead = 1;
            }
            if (dead) {
                if (conn->busy) {
                    connection_errors++;
                    in_flight--;
                    conn->busy = 0;
                }
                epoll_ctl(epoll, EPOLL_CTL_DEL, conn->fd, NULL);
                close(conn->fd);
                conn->fd = -1;
                /* Were it idle, drop it from the idle list. */
                for (int k = 0; k < n_idle; k++) {
                    if (idle[k] == i) {
                        idle[k] = idle[--n_idle];
                        break;
                    }
                }
            }
        }
    }
    double elapsed = last - start;
    if (elapsed < seconds) elapsed = seconds;
    long lag_count = sent;
    qsort(latencies, (size_t)answered, sizeof(double), compare);
    qsort(lags, (size_t)lag_count, sizeof(double), compare);
    printf("{\"scheduled\":%ld,\"sent\":%ld,\"answered\":%ld,\"ok\":%ld,\"connection_errors\":%ld,",
           total, sent, answered, ok, connection_errors);
    printf("\"seconds\":%.6f,\"rate\":%.3f,\"p50_ms\":%.4f,\"p99_ms\":%.4f,\"p999_ms\":%.4f,"
           "\"max_ms\":%.4f,",
           elapsed, rate, pct(latencies, answered, 0.50), pct(latencies, answered, 0.99),
           pct(latencies, answered, 0.999), answered ? latencies[answered - 1] * 1000.0 : 0.0);
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    double cpu = (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec / 1e6 +
                 (double)usage.ru_stime.tv_sec + (double)usage.ru_stime.tv_usec / 1e6;
    printf("\"cpu_seconds\":%.4f,\"wall_seconds\":%.4f,", cpu, now_s() - start);
    printf("\"send_lag_p99_ms\":%.4f,\"send_lag_max_ms\":%.4f,\"statuses\":{",
           pct(lags, lag_count, 0.99), lag_count ? lags[lag_count - 1] * 1000.0 : 0.0);
    int first = 1;
    for (int s = 0; s < MAX_STATUS; s++) {
        if (statuses[s]) {
            printf("%s\"%d\":%ld", first ? "" : ",", s, statuses[s]);
            first = 0;
        }
    }
    printf("}}\n");
    return 0;
}
