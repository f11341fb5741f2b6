/**
 * A free loopback TCP port, for programs that must be told their port up
 * front (nginx, redis-server, the peer gateway). The port is released before
 * the program binds it; on a quiet loopback the race is harmless.
 */
import { createServer } from 'node:net';

/** Asks the kernel for an unused port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
