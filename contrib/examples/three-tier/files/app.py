"""The shop's app server: GET / lists the items from the database tier, as plain text."""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        with open("/etc/shop/greeting") as f:
            lines = [f.read().strip()]
        with (
            psycopg2.connect(
                host=os.environ["DB_HOST"],
                dbname=os.environ["DB_NAME"],
                user=os.environ["DB_USER"],
                password=os.environ["DB_PASSWORD"],
                connect_timeout=5,
            ) as db,
            db.cursor() as cursor,
        ):
            cursor.execute("SELECT name, price FROM items ORDER BY name")
            lines += [f"{name}: {price}" for name, price in cursor.fetchall()]
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
