"""An SMTP server for the end-to-end e-mail tests: aiosmtpd on 127.0.0.1:<port> (0: any free port; the
port it listens on is printed as the first line of standard output), writing every
message it accepts to <directory> as one JSON file (envelope, headers, and the text and HTML parts
decoded by Python's e-mail parser), so the tests assert what a real server received.

Recipients whose address starts with `bounce` are refused with 550 (a permanent failure)."""

import asyncio
import email
import email.policy
import json
import os
import sys
import time

from aiosmtpd.smtp import SMTP


class Capture:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("bounce"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parts = {}
        for part in message.walk():
            if part.get_content_type() in ("text/plain", "text/html"):
                # Lines travel as CRLF on the wire; the tests compare text, not line endings.
                content = part.get_content().replace("\r\n", "\n")
                parts.setdefault(part.get_content_type(), content)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": [[name, str(value)] for name, value in message.items()],
            "content_type": message.get_content_type(),
            "text": parts.get("text/plain"),
            "html": parts.get("text/html"),
        }
        self.count += 1
        name = "%020d-%d" % (time.time_ns(), self.count)
        temporary = os.path.join(self.directory, name + ".tmp")
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(record, file)
        # The rename makes a message appear whole or not at all to a reader.
        os.rename(temporary, os.path.join(self.directory, name + ".json"))
        return "250 Message accepted for delivery"


async def main(port, directory):
    handler = Capture(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="smtp.test", enable_SMTPUTF8=True),
        host="127.0.0.1",
        port=port,
    )
    # The port the system chose (the tests pass 0 at first): the parent waits for this line.
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
