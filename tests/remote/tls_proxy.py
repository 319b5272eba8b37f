#!/usr/bin/env python3
"""TLS in front of a plain HTTP server on this machine, for tests and benchmarks: a client speaks
HTTPS to the proxy, the proxy speaks the same bytes in the clear to 127.0.0.1:TARGET_PORT. Standard
library only.

    tls_proxy.py CERT KEY TARGET_PORT     prints "port N" on stdout once it listens on 127.0.0.1
    tls_proxy.py --plain TARGET_PORT      the same proxy without TLS (a benchmark's baseline)

A connection whose target cannot be reached (the server was killed) is closed at once, as a dead
server's would be.
"""
import asyncio
import ssl
import sys


async def pipe(reader, writer):
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


async def main(cert, key, target_port):
    context = None
    if cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)

    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--plain":
        asyncio.run(main(None, None, int(sys.argv[2])))
    elif len(sys.argv) == 4:
        asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    else:
        sys.exit(__doc__)
