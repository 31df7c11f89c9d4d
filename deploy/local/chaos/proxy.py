"""A TCP proxy on 127.0.0.1 that can drop every connection and refuse new ones (a network
cut between one service and Kafka), then let them through again."""

from __future__ import annotations

import asyncio
import contextlib


class Proxy:
    def __init__(self, routes: list[tuple[int, int]]) -> None:
        self.routes = routes  # (listen port, target port)
        self.is_cut = False
        self.cuts = 0
        self._servers: list[asyncio.Server] = []
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        for listen, target in self.routes:
            server = await asyncio.start_server(lambda r, w, t=target: self._handle(r, w, t), "127.0.0.1", listen)
            self._servers.append(server)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        self._drop()

    def cut(self) -> None:
        """Every open connection reset, every new one closed at once, until :meth:`resume`."""
        self.is_cut = True
        self.cuts += 1
        self._drop()

    def resume(self) -> None:
        self.is_cut = False

    def _drop(self) -> None:
        for writer in list(self._open):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._open.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: int) -> None:
        with contextlib.suppress(asyncio.CancelledError):  # the run ends with connections open
            await self._forward(reader, writer, target)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: int) -> None:
        if self.is_cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            writer.transport.abort()
            return
        self._open |= {writer, up_writer}
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                self._open.discard(w)
                with contextlib.suppress(Exception):
                    w.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.transport.abort()
