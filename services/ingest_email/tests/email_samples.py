"""Raw mails as real mailers send them (Gmail, Outlook, Japanese clients, MTAs' bounces)."""

from __future__ import annotations

import hashlib
import hmac

SECRETS = {
    "mailgun_signing_key": "key-mailgun-test-0123456789",
    "sendgrid_inbound_user": "parse",
    "sendgrid_inbound_password": "parse-secret",
}


def mailgun_signed(
    fields: dict[str, str], *, timestamp: int, token: str, key: str = SECRETS["mailgun_signing_key"]
) -> dict[str, str]:
    """The fields with Mailgun's timestamp, token and signature (hex HMAC-SHA256 of timestamp + token)."""
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {**fields, "timestamp": str(timestamp), "token": token, "signature": signature}


ENGLISH_REPLY = b"""Return-Path: <alice@example.org>
Received: from mail.example.org (mail.example.org [203.0.113.5]) by mx.example.com; Tue, 14 May 2024 10:00:02 +0000
From: Alice Smith <Alice@Example.org>
To: Support <support@example.com>
Subject: Re: Order 42
Date: Tue, 14 May 2024 10:00:00 +0000
Message-ID: <reply-2@example.org>
In-Reply-To: <ticket-42-msg-1@example.com>
References: <ticket-42-root@example.com> <ticket-42-msg-1@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 7bit

Thanks! The parcel has not arrived yet, can you check the tracking number?

On Mon, May 13, 2024 at 9:00 AM Support <support@example.com>
wrote:
> Your order 42 has shipped.
> Tracking: 1Z999

--\x20
Alice Smith
ACME Corp, +1 555 0100
""".replace(b"\n", b"\r\n")

JAPANESE_ISO2022 = (
    b"From: =?iso-2022-jp?b?GyRCOzNFRBsoQiAbJEJCQE86GyhC?= <taro.yamada@example.jp>\r\n"
    b"To: support@example.com\r\n"
    b"Subject: =?iso-2022-jp?b?GyRCQ21KOEhWOWYbKEI0MhskQiRLJEQkJCRGGyhC?=\r\n"
    b"Date: Tue, 14 May 2024 19:05:00 +0900\r\n"
    b"Message-ID: <20240514190500.ABCD@example.jp>\r\n"
    b"In-Reply-To: <ticket-7-msg-1@example.com>\r\n"
    b"References: <ticket-7-root@example.com> <ticket-7-msg-1@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=ISO-2022-JP\r\n"
    b"Content-Transfer-Encoding: 7bit\r\n"
    b"\r\n"
    b"\x1b$B;3EDMM\x1b(B\r\n\r\n\x1b$B$*@$OC$K$J$C$F$*$j$^$9!#\x1b(B\r\n"
    b"\x1b$BCmJ8HV9f\x1b(B42\x1b$B$NG[Aw>u67$r65$($F$/$@$5$$!#\x1b(B\r\n\r\n"
    b"2024\x1b$BG/\x1b(B5\x1b$B7n\x1b(B14\x1b$BF|\x1b(B(\x1b$B2P\x1b(B) 10:00 \x1b$B%5%]!<%H\x1b(B <support@example.com>:\r\n"
    b'> \x1b$B$4CmJ8$"$j$,$H$&$4$6$$$^$9!#\x1b(B\r\n'
    b"> \x1b$BH/Aw$OL@F|$NM=Dj$G$9!#\x1b(B\r\n"
)

SHIFT_JIS_BASE64 = b"""From: =?Shift_JIS?B?h0CCzIyPgsmCwoKigsQ=?= <sato@example.co.jp>
To: support@example.com
Subject: =?Shift_JIS?B?h0CCzIyPgsmCwoKigsQ=?=
Date: Wed, 15 May 2024 09:30:00 +0900
Message-ID: <sjis-1@example.co.jp>
MIME-Version: 1.0
Content-Type: text/plain; charset="Shift_JIS"
Content-Transfer-Encoding: base64

gqiQophigsmCyILBgsSCqILogtyCt4FCCodAgsyMj4FBlr6T+oFglr6M45P6gsWRzomeicKUXILF
grWC5YKkgqmBQgqKlI6uie+O0INlg1iDZyCNspOhCg==
""".replace(b"\n", b"\r\n")

HTML_ONLY_QP = b"""From: "Bob Jones" <bob@example.net>
To: support@example.com
Subject: =?UTF-8?Q?Invoice_=E2=80=94_wrong_amount?=
Date: Thu, 16 May 2024 08:00:00 -0700
Message-ID: <CAHTML-1@mail.gmail.com>
MIME-Version: 1.0
Content-Type: text/html; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

<html><body><div dir=3D"ltr">Hi team,<br><br>My invoice #981 shows the wron=
g amount. Caf=C3=A9 order.<br></div><br><div class=3D"gmail_quote"><div dir=
=3D"ltr" class=3D"gmail_attr">On Mon, May 13, 2024 at 9:00 AM Support &lt;s=
upport@example.com&gt; wrote:<br></div><blockquote class=3D"gmail_quote">Th=
anks for contacting us.<br>We will reply soon.</blockquote></div></body></h=
tml>
""".replace(b"\n", b"\r\n")

ALTERNATIVE_WITH_ATTACHMENTS = b"""From: Carol <carol@example.com>
To: Support <support@example.com>, sales@example.com
Cc: Dave <dave@example.com>
Subject: Quote request
Date: Fri, 17 May 2024 12:00:00 +0000
Message-ID: <alt-1@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="mixed-boundary"

--mixed-boundary
Content-Type: multipart/alternative; boundary="alt-boundary"

--alt-boundary
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Please send a quote for the attached list.=20
Thanks, Carol
--alt-boundary
Content-Type: text/html; charset=utf-8

<p>Please send a quote for the <b>attached</b> list.</p><p>Thanks, Carol</p>
--alt-boundary--

--mixed-boundary
Content-Type: application/pdf; name="list.pdf"
Content-Disposition: attachment; filename="list.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoKdHJhaWxlcgo8
PC9Sb290IDEgMCBSPj4KJSVFT0YK
--mixed-boundary
Content-Type: application/pdf
Content-Disposition: attachment; filename*=UTF-8''%E8%A6%8B%E7%A9%8D%E6%9B%B8.pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--mixed-boundary
Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;
 name="=?ISO-2022-JP?B?GyRCQEE1YT1xGyhCLnhsc3g=?="
Content-Disposition: attachment;
 filename="=?ISO-2022-JP?B?GyRCQEE1YT1xGyhCLnhsc3g=?="
Content-Transfer-Encoding: base64

UEsDBBQAAAAIAA==
--mixed-boundary--
""".replace(b"\n", b"\r\n")

BOUNCE_DSN = b"""Return-Path: <>
From: Mail Delivery System <MAILER-DAEMON@mx.example.com>
To: support@example.com
Subject: Undelivered Mail Returned to Sender
Date: Sat, 18 May 2024 03:00:00 +0000
Message-ID: <20240518030000.DSN1@mx.example.com>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="dsn-b"

--dsn-b
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.com.
I'm sorry to have to inform you that your message could not be delivered.

--dsn-b
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com
Final-Recipient: rfc822; nobody@example.org
Action: failed
Status: 5.1.1

--dsn-b
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: support@example.com
To: nobody@example.org
Subject: Re: Order 42

--dsn-b--
""".replace(b"\n", b"\r\n")

DSN_WITHOUT_AUTO_SUBMITTED = BOUNCE_DSN.replace(b"Auto-Submitted: auto-replied\r\n", b"")

OUT_OF_OFFICE = b"""From: Eve <eve@example.org>
To: support@example.com
Subject: Automatic reply: Re: Order 42
Date: Sat, 18 May 2024 05:00:00 +0000
Message-ID: <ooo-1@example.org>
In-Reply-To: <ticket-42-msg-3@example.com>
Auto-Submitted: auto-replied
X-Auto-Response-Suppress: All
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

I am out of the office until Monday.
"""

BULK_NEWSLETTER = b"""From: News <news@shop.example>
To: support@example.com
Subject: Weekly deals
Date: Sat, 18 May 2024 05:00:00 +0000
Message-ID: <news-1@shop.example>
Precedence: bulk
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Deals of the week.
"""

OUTLOOK_JAPANESE_REPLY = b"""From: =?UTF-8?B?6Yi05pyoIOiKseWtkA==?= <hanako.suzuki@example.co.jp>
To: support@example.com
Subject: =?UTF-8?B?UkU6IOOBiuWVj+OBhOWQiOOCj+OBmw==?=
Date: Mon, 20 May 2024 11:00:00 +0900
Message-ID: <TYAPR01MB1234@jpnprd01.prod.outlook.com>
In-Reply-To: <ticket-9-msg-1@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: base64

""" + __import__("base64").encodebytes(
    "ご回答ありがとうございます。\n承知いたしました。\n\n-----元のメッセージ-----\n差出人: サポート <support@example.com>\n送信日時: 2024年5月17日 15:00\n件名: お問い合わせ\n\nお問い合わせありがとうございます。\n".encode()
)

NO_MESSAGE_ID = b"""From: nobody-knows@example.org
To: support@example.com
Subject: hello
Date: Sun, 19 May 2024 10:00:00 +0000
Content-Type: text/plain

Is anyone there?
"""


def multipart(fields: dict[str, bytes | str], files: list[tuple[str, str, str, bytes]] = ()) -> tuple[str, bytes]:
    """A multipart/form-data body as SendGrid and Mailgun post it: fields as raw bytes, files with types."""
    boundary = "xYzZY"
    out = b""
    for name, value in fields.items():
        data = value.encode() if isinstance(value, str) else value
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + data + b"\r\n"
    for name, filename, ctype, data in files:
        out += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {ctype}\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    out += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", out


SENDGRID_JAPANESE_FIELDS: dict[str, bytes | str] = {
    "headers": (
        "Received: by mx0047p1mdw1.sendgrid.net with SMTP id 6WCVv7KAWn Wed, 27 Jul 2016 20:53:06 +0000 (UTC)\n"
        "From: =?iso-2022-jp?b?GyRCOzNFRBsoQiAbJEJCQE86GyhC?= <taro.yamada@example.jp>\n"
        "To: support@parse.example.com\n"
        "Subject: =?iso-2022-jp?b?GyRCQ21KOEhWOWYbKEI0MhskQiRLJEQkJCRGGyhC?=\n"
        "Date: Tue, 14 May 2024 19:05:00 +0900\n"
        "Message-ID: <sg-ja-1@example.jp>\n"
        "In-Reply-To: <ticket-7-msg-1@example.com>\n"
        "References: <ticket-7-root@example.com> <ticket-7-msg-1@example.com>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=001a113df448cad2d00538c4d6c8\n"
    ),
    "from": "山田 太郎 <taro.yamada@example.jp>",
    "to": "support@parse.example.com",
    "subject": "注文番号42について".encode("iso2022_jp"),
    "text": "お世話になっております。\n配送状況を教えてください。\n\n2024年5月14日(火) 10:00 サポート <support@example.com>:\n> ご注文ありがとうございます。\n".encode(
        "iso2022_jp"
    ),
    "html": "<p>お世話になっております。</p>".encode("iso2022_jp"),
    "envelope": '{"to":["support@parse.example.com"],"from":"taro.yamada@example.jp"}',
    "charsets": '{"to":"UTF-8","html":"iso-2022-jp","subject":"iso-2022-jp","from":"UTF-8","text":"iso-2022-jp"}',
    "sender_ip": "209.85.223.172",
    "spam_score": "0.011",
    "SPF": "pass",
    "dkim": "{@example.jp : pass}",
    "attachments": "1",
    "attachment-info": '{"attachment1":{"filename":"見積書.pdf","name":"見積書.pdf","type":"application/pdf"}}',
}
SENDGRID_ATTACHMENT = ("attachment1", "見積書.pdf", "application/pdf", b"%PDF-1.4\n%\xc7\xec\x8f\xa2\n")

MAILGUN_FIELDS: dict[str, str] = {
    "recipient": "support@mg.example.com",
    "sender": "alice@example.org",
    "from": "Alice <alice@example.org>",
    "subject": "Re: Order 42",
    "body-plain": "Thanks!\r\n\r\nOn Mon, May 13, 2024 at 9:00 AM Support <support@mg.example.com> wrote:\r\n> Shipped.\r\n",
    "stripped-text": "Thanks!",
    "stripped-signature": "",
    "body-html": "<div>Thanks!</div>",
    "message-headers": (
        '[["Received", "from mail.example.org"], ["Message-Id", "<mg-1@example.org>"], '
        '["In-Reply-To", "<ticket-42-msg-1@mg.example.com>"], '
        '["References", "<ticket-42-root@mg.example.com> <ticket-42-msg-1@mg.example.com>"], '
        '["Date", "Tue, 14 May 2024 10:00:00 +0000"], ["From", "Alice <alice@example.org>"], '
        '["To", "support@mg.example.com"], ["Subject", "Re: Order 42"]]'
    ),
    "Message-Id": "<mg-1@example.org>",
    "attachment-count": "0",
}

# Outlook / Windows mailers write ISO-2022-JP as CP50220: NEC row 13 (①, ㈱, №), the NEC-selected
# IBM extensions (髙) and half-width kana (ESC ( I), all of which Python's iso2022_jp codecs reject
CP50220_OUTLOOK = (
    b"From: =?ISO-2022-JP?B?GyRCfGI2NhsoQiAbJEIwbE86GyhC?= <takahashi@sample.co.jp>\r\n"
    b"To: support@example.com\r\n"
    b"Subject: =?ISO-2022-JP?B?GyRCLSEkTjdvJEskRCQkJEYbKEI=?=\r\n"
    b"Date: Mon, 30 Nov 2026 10:00:00 +0900\r\n"
    b"Message-ID: <cp50220-1@sample.co.jp>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=iso-2022-jp\r\n"
    b"Content-Transfer-Encoding: 7bit\r\n"
    b"\r\n"
    b'\x1b$B;3EDMM\x1b(B\r\n\r\n\x1b$B-!$N7o!"-j%5%s%W%k$N|b66$G$9!#\x1b(B\r\n'
    b"\x1b(I6@6E\x1b$B$NIJHV-b#1#2$OL@F|!AL@8eF|$KFO$-$^$9$+!#\x1b(B\r\n"
)
CP50220_TEXT = "山田様\n\n①の件、㈱サンプルの髙橋です。\nｶﾀｶﾅの品番№１２は明日～明後日に届きますか。"
