"""A fake clamd on loopback speaking the INSTREAM protocol (clamd(8)): `zINSTREAM\\0`, chunks of
a 4-byte big-endian length and that many bytes, a zero length to end; it answers
`stream: OK\\0`, or `stream: Eicar-Test-Signature FOUND\\0` for a stream holding the EICAR test
string, as the real clamd does. It records every stream it scanned."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

EICAR = (rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")


@dataclass
class FakeClamd:
    server: asyncio.Server | None = None
    port: int = 0
    scanned: list[bytes] = field(default_factory=list)
    commands: list[bytes] = field(default_factory=list)
    silent: bool = False
    """Read the stream, then never answer (a hung scanner) until stopped."""
    released: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    async def start(self) -> FakeClamd:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self.released.set()  # a silent handler returns
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            command = await reader.readuntil(b"\0")
            self.commands.append(command)
            if command != b"zINSTREAM\0":
                writer.write(b"UNKNOWN COMMAND\0")
                return
            data = bytearray()
            while True:
                size = int.from_bytes(await reader.readexactly(4), "big")
                if size == 0:
                    break
                data += await reader.readexactly(size)
            self.scanned.append(bytes(data))
            if self.silent:
                await self.released.wait()
                return
            found = EICAR in data
            writer.write(b"stream: Eicar-Test-Signature FOUND\0" if found else b"stream: OK\0")
            await writer.drain()
        finally:
            writer.close()
