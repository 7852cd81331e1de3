/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * io.h: one connection's buffered, non-blocking I/O for the relay: what
 * a libevent bufferevent gave it, in fewer system calls.
 *
 *   One edge-triggered event per socket, added once (one epoll_ctl) and
 *   gone with the close: pausing and resuming a direction, and queueing
 *   output, change no epoll registration. Reads are recv(2) into one
 *   buffer all connections share (no FIONREAD ioctl before each, no
 *   input buffer per connection); a read short of what was asked, with
 *   the peer's FIN already reported (EPOLLRDHUP), is the end of the
 *   stream without another read. Output is kept only when the socket
 *   does not take it at once (an output buffer made then), and written
 *   as soon as it is queued, in the same loop turn.
 *
 * The callbacks run from the event loop only, never from inside a call
 * into this module, as with a bufferevent's deferred callbacks; a
 * connection freed from its own callback is released when that returns.
 *
 *   read      bytes arrived: p[0..n), valid until the callback returns
 *             (it forwards, decodes or copies them; nothing keeps them)
 *   written   the output buffer was written out to its end
 *   event     RELAY_IO_CONNECTED; RELAY_IO_EOF (the peer's FIN);
 *             RELAY_IO_ERROR (errno says which); RELAY_IO_TIMEOUT; each
 *             with RELAY_IO_READING or RELAY_IO_WRITING
 */
#ifndef RELAY_IO_H
#define RELAY_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/event.h>

#define RELAY_IO_READING	0x01
#define RELAY_IO_WRITING	0x02
#define RELAY_IO_EOF		0x10
#define RELAY_IO_ERROR		0x20
#define RELAY_IO_TIMEOUT	0x40
#define RELAY_IO_CONNECTED	0x80

struct relay_io;

/* fd: a connected socket it owns from now on, or -1 for relay_io_connect. */
struct relay_io *relay_io_new(struct event_base *, int fd);
/* Closes the socket now; the struct goes once no callback of it runs. */
void relay_io_free(struct relay_io *);
void relay_io_setcb(struct relay_io *,
    void (*read)(struct relay_io *, const uint8_t *p, size_t n, void *arg),
    void (*written)(struct relay_io *, void *arg),
    void (*event)(struct relay_io *, short what, void *arg), void *arg);
/* Start a non-blocking connect; 0, or -1 with errno (nothing started). */
int relay_io_connect(struct relay_io *, const struct sockaddr *, socklen_t);
int relay_io_fd(const struct relay_io *);
/* Bytes waiting to be written. */
size_t relay_io_pending(const struct relay_io *);
/* Copy p[0..n) to the output, written from the loop: 0, or -1 (ENOMEM). */
int relay_io_queue(struct relay_io *, const void *p, size_t n);
/* Reading on or off (EV_READ), writing on or off (EV_WRITE). */
void relay_io_enable(struct relay_io *, short what);
void relay_io_disable(struct relay_io *, short what);
/* At most this many bytes per read callback (and RELAY_IO_READ_MAX). */
#define RELAY_IO_READ_MAX 4096
void relay_io_set_max_read(struct relay_io *, size_t);
/*
 * Inactivity timeouts, NULL for none: reading, while reading is on; a
 * connect, then writing while there is output, for the write one.
 */
void relay_io_set_timeouts(struct relay_io *, const struct timeval *rd,
    const struct timeval *wr);

/*
 * Send on a socket without blocking: send(2), or sendmsg(2) for more
 * than one piece; how much went, or -1 with errno (EAGAIN: nothing).
 */
#define RELAY_IO_IOV 8
ssize_t relay_io_send(int fd, const struct iovec *, int n);

#endif /* RELAY_IO_H */
