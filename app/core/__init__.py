"""What everything may use: configuration, extensions, the database and its one commit, the
clock, errors, text, phones, QR drawing, rate-limit storage, wrong-guess strikes, the audit
log.
"""
