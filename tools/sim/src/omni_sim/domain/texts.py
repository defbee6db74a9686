"""What simulated customers write: Japanese and English texts per intent, each meant for one skill."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum


class Intent(StrEnum):
    """What a customer wants; the router's classification should map each to a different skill."""

    BILLING = "billing"
    TECHNICAL = "technical"
    SHIPPING = "shipping"
    ACCOUNT = "account"
    CANCELLATION = "cancellation"


@dataclass(frozen=True, slots=True)
class Text:
    subject: str
    body: str


_TEXTS: dict[tuple[str, Intent], tuple[Text, ...]] = {
    ("en", Intent.BILLING): (
        Text(
            "Charged twice on my invoice",
            "Hi, I was charged twice for my last invoice. Can you refund the duplicate payment?",
        ),
        Text(
            "Question about my bill",
            "My bill this month is higher than usual. Could you explain the extra charge on my credit card?",
        ),
        Text(
            "Refund not received", "I was promised a refund for the payment two weeks ago but nothing has arrived yet."
        ),
    ),
    ("en", Intent.TECHNICAL): (
        Text(
            "App crashes on login",
            "The app crashes every time I try to log in after the latest update. I get an error 500.",
        ),
        Text(
            "Cannot connect",
            "My device cannot connect to the service since this morning. I restarted it twice, still an error.",
        ),
        Text("Bug in the export", "The CSV export is broken, the file is empty. Is this a known bug?"),
    ),
    ("en", Intent.SHIPPING): (
        Text(
            "Where is my order?",
            "My order has not arrived yet and the tracking number shows no delivery update for a week.",
        ),
        Text("Wrong delivery address", "I need to change the delivery address of my order before it ships."),
        Text("Package damaged", "The package was delivered damaged. How do I get a replacement shipped?"),
    ),
    ("en", Intent.ACCOUNT): (
        Text(
            "Password reset not working",
            "I cannot reset my password, the reset email never arrives. Please help me access my account.",
        ),
        Text(
            "Change my email address", "How do I change the email address on my account? I no longer use the old one."
        ),
    ),
    ("en", Intent.CANCELLATION): (
        Text(
            "Cancel my subscription",
            "Please cancel my subscription at the end of this month. I no longer need the plan.",
        ),
        Text("I want to cancel", "I want to cancel my membership and close the contract. What do I need to do?"),
    ),
    ("ja", Intent.BILLING): (
        Text(
            "請求が二重になっています",
            "お世話になっております。先月の請求が二重に引き落とされていました。返金をお願いできますでしょうか。",
        ),
        Text("料金について", "今月の料金がいつもより高いです。クレジットカードの請求内容を教えてください。"),
        Text(
            "返金がまだです", "二週間前に返金のご連絡をいただきましたが、まだ入金されていません。確認をお願いします。"
        ),
    ),
    ("ja", Intent.TECHNICAL): (
        Text(
            "ログインできません",
            "最新のアップデート後、アプリにログインしようとすると毎回エラーが出て落ちてしまいます。",
        ),
        Text("接続エラー", "今朝から端末がサービスに接続できません。再起動しましたがエラーのままです。"),
        Text("不具合の報告", "CSVのエクスポート機能が動作せず、空のファイルになります。不具合でしょうか。"),
    ),
    ("ja", Intent.SHIPPING): (
        Text(
            "注文した商品が届きません",
            "注文した商品がまだ届きません。追跡番号を確認しても一週間配送状況が更新されていません。",
        ),
        Text("お届け先の変更", "発送前に注文のお届け先住所を変更したいです。"),
        Text("商品が破損していました", "届いた荷物が破損していました。交換品の発送をお願いできますか。"),
    ),
    ("ja", Intent.ACCOUNT): (
        Text(
            "パスワードを再設定できません",
            "パスワードの再設定メールが届かず、アカウントにログインできません。助けてください。",
        ),
        Text("メールアドレスの変更", "アカウントに登録しているメールアドレスを変更する方法を教えてください。"),
    ),
    ("ja", Intent.CANCELLATION): (
        Text("解約の手続き", "今月末でサブスクリプションを解約したいです。手続きをお願いします。"),
        Text("退会したい", "会員を退会して契約を解除したいのですが、どうすればよいですか。"),
    ),
}

_FOLLOW_UPS: dict[str, tuple[str, ...]] = {
    "en": (
        "Any update on this? I am still waiting.",
        "Thanks, one more detail: it happened again today.",
        "I also attached the order number above, please check.",
    ),
    "ja": (
        "その後いかがでしょうか。まだ返信をお待ちしています。",
        "補足です。本日も同じことが起きました。",
        "上記の注文番号もご確認ください。よろしくお願いいたします。",
    ),
}


def pick_text(rng: random.Random, *, language: str, intent: Intent) -> Text:
    return rng.choice(_TEXTS[(language, intent)])


def pick_follow_up(rng: random.Random, *, language: str) -> str:
    return rng.choice(_FOLLOW_UPS[language])


LANGUAGES = ("en", "ja")
