"""The local mail backend: `make run` has no mail server, so mail is printed on the console."""

from django.core.mail.backends.console import EmailBackend

RULE = "-" * 79


class ConsoleEmailBackend(EmailBackend):
    """Prints each message as its reader would see it: the addresses, the subject and the text body as
    written. Django's console backend prints the raw MIME message instead, whose quoted-printable
    encoding breaks every line over 76 characters with a trailing "=": a verification link printed that
    way cannot be clicked or copied whole. Alternatives (an HTML part) and attachments are named, not
    printed."""

    def write_message(self, message) -> None:
        lines = [f"From: {message.from_email}", f"To: {', '.join(message.to)}"]
        if message.cc:
            lines.append(f"Cc: {', '.join(message.cc)}")
        if message.reply_to:
            lines.append(f"Reply-To: {', '.join(message.reply_to)}")
        lines += [f"Subject: {message.subject}", "", message.body]
        for alternative in getattr(message, "alternatives", []):
            lines.append(f"[The same message as {alternative[1]} is attached, not shown.]")
        for attachment in message.attachments:
            name = attachment.get_filename() if hasattr(attachment, "get_filename") else attachment[0]
            lines.append(f"[Attachment: {name or 'unnamed'}]")
        self.stream.write("\n".join(lines) + "\n" + RULE + "\n")
