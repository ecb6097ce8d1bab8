"""A console user for tests: a cookie jar that signs in through the form and posts forms with their CSRF token."""

from __future__ import annotations

import re

import requests

HIDDEN_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class ConsoleUser:
    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.csrf = ""

    def sign_in(self, token: str) -> requests.Response:
        page = self.http.get(f"{self.base}/signin", timeout=10)
        answer = self.http.post(f"{self.base}/signin", data={"csrf": HIDDEN_CSRF.search(page.text).group(1),
                                                              "token": token, "next": "/"},
                                allow_redirects=False, timeout=10)
        if answer.status_code == 303:
            self.csrf = HIDDEN_CSRF.search(self.get("/").text).group(1)
        return answer

    def get(self, path: str) -> requests.Response:
        return self.http.get(f"{self.base}{path}", allow_redirects=False, timeout=30)

    def post(self, path: str, data: dict | None = None, csrf: bool = True) -> requests.Response:
        return self.http.post(f"{self.base}{path}", data={**({"csrf": self.csrf} if csrf else {}), **(data or {})},
                              allow_redirects=False, timeout=60)
