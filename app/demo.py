"""A realistic demo street: three communities, ~300 residents, teams, merchants, history.

Loaded by `flask seed-demo` (and by ./run on an empty database). Deterministic: the same
seed gives the same street, so the logins below always work.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app.activities import activities, attendance
from app.core import clock
from app.core.errors import LinliError
from app.core.extensions import db
from app.models import Merchant, MerchantCommunity, Offer, OrgUnit, Person, Team, TeamMember
from app.partners import personal_codes, redemptions
from app.people import org, people
from app.points import awards, deeds, honours, ledger

DEMO_PASSWORD = "linli-demo-2026"  # noqa: S105  (demo mode only; listed on the sign-in page)
DEMO_LOGINS = [
    (_l("Street administrator"), "admin", DEMO_PASSWORD),
    (_l("Social worker, %(place)s", place="阳光社区"), "yangguang", DEMO_PASSWORD),
    (_l("Social worker, %(place)s", place="和平社区"), "heping", DEMO_PASSWORD),
    (_l("Merchant operator, %(place)s", place="惠民超市"), "huimin", DEMO_PASSWORD),
    (_l("Merchant operator, %(place)s", place="老张理发店"), "laozhang", DEMO_PASSWORD),
]
DEMO_VOLUNTEER_PHONE = "+8613800138000"

# Limits on some demo offers, so the pages show them at work.
OFFER_LIMITS = {
    "大米5公斤": {"stock": 40, "monthly_limit": 1},
    "满50元减5元": {"max_quantity": 3, "monthly_limit": 6},
    "老人免费理发": {"monthly_limit": 2},
    "早餐套餐": {"daily_quota": 30, "max_quantity": 2},
    "电影票一张": {"stock": 20, "monthly_limit": 2},
}

STREET = "幸福街道"
COMMUNITIES = [("阳光社区", "yangguang"), ("和平社区", "heping"), ("新华社区", "xinhua")]
RESIDENTS_PER_COMMUNITY = 100
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"  # noqa: E501
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华慧建国文红玉兰桂珍志刚海燕平德福春梅荣"  # noqa: E501
TAGS = [("党员", 0.22), ("在职党员", 0.08), ("志愿者骨干", 0.1), ("退休", 0.3)]
DEEDS = [
    ("助老服务：陪同老人就医", 20),
    ("助老服务：上门探访独居老人", 10),
    ("垃圾分类督导", 10),
    ("治安巡逻", 15),
    ("邻里纠纷调解", 30),
    ("社区文化活动志愿服务", 15),
    ("楼道清洁", 5),
    ("防诈骗宣传", 10),
]
TEAMS = [
    (
        "阳光社区",
        "小巷骑兵",
        "巡查楼道安全隐患；为行动不便的老人跑腿代购；恶劣天气时提醒并协助加固阳台物品",
    ),
    ("和平社区", "小巷医生", "每周二、周五为老人测量血压血糖；建立健康档案；普及常见病防治知识"),
]
MERCHANTS: list[tuple[str, str, str, str, str, str, list[tuple[str, str, int, int | None]]]] = [
    # name, tier, category, address, hours, operator login, offers (title, kind, cost, fen)
    (
        "惠民超市",
        "street",
        "超市",
        "幸福路88号",
        "08:00-22:00",
        "huimin",
        [("满50元减5元", "discount", 50, 500), ("大米5公斤", "goods", 300, 3500)],
    ),
    (
        "光明影院",
        "street",
        "影院",
        "幸福路120号",
        "10:00-23:00",
        "guangming",
        [("电影票一张", "goods", 200, 4000), ("爆米花套餐半价", "discount", 60, 1500)],
    ),
    (
        "新华书店",
        "street",
        "书店",
        "解放路15号",
        "09:00-21:00",
        "xinhuashu",
        [("图书八折", "discount", 40, None), ("儿童绘本一本", "goods", 120, 2500)],
    ),
    (
        "老张理发店",
        "community",
        "理发",
        "阳光社区3号楼底商",
        "08:30-19:00",
        "laozhang",
        [("老人免费理发", "service", 80, 2000), ("洗剪吹", "service", 120, 3000)],
    ),
    (
        "仁心诊所",
        "community",
        "诊所",
        "和平社区1号楼",
        "08:00-17:30",
        "renxin",
        [("免费测血糖", "service", 20, 1000), ("中医推拿30分钟", "service", 150, 6000)],
    ),
    (
        "便民早餐店",
        "community",
        "餐饮",
        "新华社区南门",
        "06:00-10:30",
        "bianmin",
        [("早餐套餐", "goods", 30, 800), ("豆浆油条", "goods", 15, 500)],
    ),
]


def is_seeded() -> bool:
    return (db.session.scalar(sa.select(sa.func.count()).select_from(Person)) or 0) > 0


def _name(rng: random.Random) -> str:
    given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2, 2))))
    return rng.choice(SURNAMES) + given


def seed(now: datetime, progress: Callable[[int], None] | None = None, seed: int = 2026) -> dict:
    """Create the demo street. Returns counts of what was made."""
    rng = random.Random(seed)
    tick = progress or (lambda _n: None)
    source = "cli"
    street = org.get_or_create_street(STREET)
    admin = people.create_user(
        kind="admin",
        name="街道管理员",
        phone="+8613900000001",
        password=DEMO_PASSWORD,
        login="admin",
        now=now,
        actor=None,
        source=source,
    )
    communities: dict[str, OrgUnit] = {}
    staff: dict[str, Person] = {}
    residents: dict[str, list[Person]] = {}
    phone_serial = 100
    for index, (name, login) in enumerate(COMMUNITIES):
        community = org.create_community(name, street=street, monthly_budget=20000)
        communities[name] = community
        staff[name] = people.create_user(
            kind="staff",
            name=f"{name}社工",
            phone=f"+86139000000{10 + index:02d}",
            password=DEMO_PASSWORD,
            login=login,
            communities=[community],
            now=now,
            actor=admin,
            source=source,
        )
        residents[name] = []
        for grid_no in (1, 2):
            grid = org.place(community, f"第{grid_no}网格")
            for building_no in range(1, 4):
                building_name = f"{(grid_no - 1) * 3 + building_no}号楼"
                for unit_no in (1, 2):
                    for room in _rooms(rng):
                        if len(residents[name]) >= RESIDENTS_PER_COMMUNITY:
                            break
                        household = org.place(
                            community, grid.name, building_name, f"{unit_no}单元", room
                        )
                        for _member in range(rng.choice((1, 2, 2, 3))):
                            if len(residents[name]) >= RESIDENTS_PER_COMMUNITY:
                                break
                            is_demo = not residents[name] and index == 0
                            phone_serial += 1
                            phone = (
                                DEMO_VOLUNTEER_PHONE
                                if is_demo
                                else (f"+86137{index:01d}{phone_serial:07d}")
                            )
                            person = people.create_person(
                                name="张明" if is_demo else _name(rng),
                                phone=phone,
                                community=community,
                                org_unit=household,
                                tags=[tag for tag, share in TAGS if rng.random() < share],
                                now=now,
                                actor=staff[name],
                                source=source,
                            )
                            residents[name].append(person)
                            tick(1)
        _appoint_leaders(community, residents[name], rng)

    _make_teams(communities, residents, rng)
    merchants = _make_merchants(communities, now, admin)
    awarded = _award_history(communities, residents, staff, now, rng)
    made = _make_activities(communities, residents, staff, now, rng)
    redeemed = _make_redemptions(communities, residents, merchants, now, rng)
    asked = _make_needs(communities, residents, staff, admin, now, rng)
    _make_deductions(residents, staff, admin, now)
    _make_resources(communities, residents, staff, merchants, now)
    this_month = clock.local(now, None).strftime("%Y-%m")
    for community_name, title in (("阳光社区", "社区好人"), ("和平社区", "活力小哥")):
        honours.grant(
            residents[community_name][0],
            title,
            this_month,
            reason="演示",
            actor=admin,
            community_ids=None,
            now=now,
        )
    db.session.flush()
    return {
        "communities": len(communities),
        "residents": sum(len(r) for r in residents.values()),
        "merchants": len(merchants),
        "awards": awarded,
        "activities": made,
        "redemptions": redeemed,
        "needs": asked,
    }


def _make_resources(communities, residents, staff, merchants, now: datetime) -> None:
    """阳光社区's resources list: two service posts, a clinic's and a neighbour's offer; two
    working party members who reported, one holding a post."""
    from app.points import resources

    here, worker = communities["阳光社区"], staff["阳光社区"]
    people_here = residents["阳光社区"]
    clinic = next((m for m in merchants if "诊所" in m.name or "药" in m.name), merchants[0])
    lines = [
        resources.ResourceFields(kind="post", title="周末楼道安全巡查", capacity=6),
        resources.ResourceFields(kind="post", title="垃圾分类督导岗", capacity=4),
        resources.ResourceFields(
            kind="offer",
            title="上门量血压、测血糖",
            description="每周三下午，独居老人优先",
            capacity=8,
            capacity_unit="times",
            provider_merchant_id=clinic.id,
        ),
        resources.ResourceFields(
            kind="offer",
            title="法律咨询（退休律师）",
            description="继承、租房、邻里纠纷",
            capacity=2,
            capacity_unit="hours",
            provider_phone=people_here[7].phone,
        ),
    ]
    made = [resources.create(here, line, actor=worker, now=now) for line in lines]
    for person, employer in ((people_here[3], "区税务局"), (people_here[9], "市第一医院")):
        resources.report(
            person, employer=employer, branch="机关第二支部", now=now, recorded_by=worker
        )
    resources.claim(made[0], people_here[3], now=now)


def _make_deductions(residents, staff, admin, now: datetime) -> None:
    """The street's two deduction rules (扣分), and one deduction in 阳光社区."""
    from app.points import deductions

    rules = [
        deeds.create_rule(
            deeds.RuleFields(
                title=title,
                category="safety",
                points=points,
                daily_limit=1,
                deducts=True,
                owe_beyond_balance=owe,
            ),
            community=None,
            actor=admin,
            now=now,
        )
        for title, points, owe in (("高空抛物", 20, True), ("违规停车占用消防通道", 5, False))
    ]
    deductions.deduct(
        rules[1],
        residents["阳光社区"][-5],
        reason="电动车停在3号楼消防通道，劝说后仍未挪走",
        key="demo-deduction-1",
        actor=staff["阳光社区"],
        community_ids=None,
        now=now - timedelta(hours=20),
    )


# The street's kinds of request (需求类型): name, words that pick it from a text, points,
# hours each triage step has.
NEED_KINDS = (
    ("生活帮扶", "", 10, 24),
    ("安全隐患", "安全 隐患 电动车 飞线 高空", 15, 4),
    ("维修", "水管 漏水 电 灯 门 锁 修", 20, 12),
    ("照护老人", "老人 陪 看病 取药 买菜", 20, 12),
    ("邻里纠纷", "纠纷 吵 噪音", 15, 24),
    ("环境卫生", "垃圾 卫生 杂物 楼道", 10, 24),
    ("代办事务", "代办 证明 社保 医保 材料", 10, 48),
)
DEMO_NEEDS = (
    ("厨房水管漏水，地上都是水", "taken"),
    ("帮忙去社区医院取药", "confirmed"),
    ("楼道堆了很多杂物", "open"),
    ("楼下电动车飞线充电", "open"),
)


def _make_needs(communities, residents, staff, admin, now: datetime, rng: random.Random) -> int:
    """The street's kinds of request, and a few requests in 阳光社区 at each stage: one
    waiting, one being handled, one solved and rated; none of them the demo volunteer's."""
    from app.points import needs

    for name, keywords, points, hours in NEED_KINDS:
        needs.create_kind(
            None,
            needs.KindFields(
                name=name, keywords=keywords, points=points, step_hours=hours, monthly_limit=8
            ),
            actor=admin,
            now=now,
        )
    people_here = residents["阳光社区"]
    made = 0
    for n, (text, stage) in enumerate(DEMO_NEEDS):
        asked_at = now - timedelta(hours=30 - n * 6)
        resident = people_here[-1 - n]
        kind = needs.kind_for_text(resident.community_id or 0, text)
        need = needs.post(resident, text, kind=kind, now=asked_at, source="text")
        made += 1
        if stage == "open":
            continue
        helper = next(
            p
            for p in people_here[1:]
            if needs.take_refusal(need, p) is None and p.id != resident.id
        )
        needs.take(need, helper, now=asked_at + timedelta(hours=1), source="web")
        if stage == "confirmed":
            needs.done(
                need, helper, note="已送到家", now=asked_at + timedelta(hours=3), source="web"
            )
            needs.confirm(need, resident, now=asked_at + timedelta(hours=4), source="text")
            needs.rate(need, resident, 5, comment="很及时，谢谢", now=asked_at + timedelta(hours=4))
    needs.escalate_due(now)  # what `flask outbox run` would have done meanwhile
    return made


def _rooms(rng: random.Random) -> list[str]:
    return [f"{floor}0{door}" for floor in range(1, 4) for door in (1, 2)]


def _appoint_leaders(community: OrgUnit, members: list[Person], rng: random.Random) -> None:
    """A grid, building and unit leader (三长) for every node that has residents under it."""
    by_node: dict[int, list[Person]] = {}
    nodes: dict[int, OrgUnit] = {}
    for person in members:
        if person.org_unit is None:
            continue
        for node in org.ancestors(person.org_unit):
            if node.kind in ("grid", "building", "unit"):
                by_node.setdefault(node.id, []).append(person)
                nodes[node.id] = node
    role_for = {"grid": "grid_leader", "building": "building_leader", "unit": "unit_leader"}
    for node_id, candidates in sorted(by_node.items()):
        node = nodes[node_id]
        people.make_leader(rng.choice(candidates), node, role_for[node.kind])


def _make_teams(communities, residents, rng: random.Random) -> None:
    for community_name, team_name, duties in TEAMS:
        team = Team(community_id=communities[community_name].id, name=team_name, duties=duties)
        db.session.add(team)
        chosen = rng.sample(residents[community_name], 8)
        team.members = [
            TeamMember(person_id=person.id, is_leader=(i == 0)) for i, person in enumerate(chosen)
        ]
    db.session.flush()


def _make_merchants(communities: dict[str, OrgUnit], now: datetime, admin: Person) -> list:
    made = []
    all_communities = list(communities.values())
    for index, (name, tier, category, address, hours, login, offers) in enumerate(MERCHANTS):
        merchant = Merchant(
            name=name, tier=tier, category=category, address=address, opening_hours=hours
        )
        db.session.add(merchant)
        db.session.flush()
        served = all_communities if tier == "street" else [all_communities[index % 3]]
        db.session.add_all(
            MerchantCommunity(merchant_id=merchant.id, community_id=c.id) for c in served
        )
        for title, kind, cost, fen in offers:
            db.session.add(
                Offer(
                    merchant_id=merchant.id,
                    title=title,
                    kind=kind,
                    points_cost=cost,
                    money_value_fen=fen,
                    created_at=now,
                    updated_at=now,
                    **OFFER_LIMITS.get(title, {}),
                )
            )
        ledger.merchant_account(merchant)
        people.create_user(
            kind="merchant",
            name=f"{name}店员",
            phone=f"+86139000001{index:02d}",
            password=DEMO_PASSWORD,
            login=login,
            merchant=merchant,
            now=now,
            actor=admin,
            source="cli",
        )
        made.append(merchant)
    return made


def _award_history(communities, residents, staff, now: datetime, rng: random.Random) -> int:
    """About 90 days of deed awards, so balances, months and boards have something to show."""
    count = 0
    for community_name in communities:
        active = rng.sample(residents[community_name], 60)
        active.insert(0, residents[community_name][0])
        for day in range(90, 0, -1):
            when = now - timedelta(days=day, hours=rng.randint(0, 8))
            for person in rng.sample(active, rng.randint(1, 4)):
                reason, points = rng.choice(DEEDS)
                count += 1
                awards.award(
                    person,
                    points,
                    reason=reason,
                    idempotency_key=f"demo-award-{count}",
                    now=when,
                    actor=staff[community_name],
                    source="cli",
                    notify=False,
                )
    return count


PAST_ACTIVITIES = [
    ("周末环境整治", "小区中心花园", 2, "per_hour", 10, "environment"),
    ("敬老院探访", "幸福敬老院", 2, "fixed", 20, "elderly_care"),
    ("垃圾分类定时定点督导", "2号楼垃圾分类亭", 2, "per_hour", 8, "environment"),
    ("反诈骗宣传进楼栋", "社区活动中心", 1, "fixed", 10, "safety"),
    ("义务理发", "社区活动中心", 3, "per_hour", 10, "elderly_care"),
    ("夜间治安巡逻", "社区各楼栋", 2, "per_hour", 10, "safety"),
]


def _make_activities(communities, residents, staff, now: datetime, rng: random.Random) -> int:
    """Past activities with verified attendance, one on now, and some coming up.

    The one on now lets a visitor scan the projector code straight away.
    """
    made = 0
    for community_name, community in communities.items():
        crowd = residents[community_name]
        worker = staff[community_name]
        teams = {t.community_id: t for t in org.teams_of([community.id])}
        for weeks_ago, (title, place, hours, rule, points, category) in enumerate(
            PAST_ACTIVITIES, 1
        ):
            starts = (now - timedelta(weeks=weeks_ago)).replace(minute=0, second=0, microsecond=0)
            activity = activities.create_activity(
                community,
                activities.ActivityFields(
                    title=title,
                    place=place,
                    starts_at=starts,
                    ends_at=starts + timedelta(hours=hours),
                    points_rule=rule,
                    points=points,
                    category=category,
                    team=teams.get(community.id) if weeks_ago % 2 else None,
                ),
                actor=worker,
                now=starts - timedelta(days=7),
                source="cli",
            )
            made += 1
            attendees = [crowd[0], *rng.sample(crowd[1:], rng.randint(8, 15))]
            for person in attendees:
                arrived = starts + timedelta(minutes=rng.randint(-10, 15))
                attendance.check_in(activity, person, now=arrived)
                left = starts + timedelta(hours=hours, minutes=rng.randint(-20, 10))
                attendance.check_out(activity, person, now=left)
        current = (now - timedelta(minutes=30)).replace(second=0, microsecond=0)
        upcoming = [
            ("社区议事会志愿服务", "社区党群服务中心", current, 3, None, False, "per_hour", 10),
            ("周六义诊", "社区卫生服务站", now + timedelta(days=2), 3, 10, False, "fixed", 25),
            ("小区消防演练", "3号楼前广场", now + timedelta(days=6), 2, 30, True, "fixed", 15),
        ]
        for title, place, starts, hours, capacity, signup_required, rule, points in upcoming:
            starts = starts.replace(second=0, microsecond=0)
            activity = activities.create_activity(
                community,
                activities.ActivityFields(
                    title=title,
                    place=place,
                    starts_at=starts,
                    ends_at=starts + timedelta(hours=hours),
                    capacity=capacity,
                    signup_required=signup_required,
                    points_rule=rule,
                    points=points,
                    description="请穿好红马甲，提前十分钟到场。",
                ),
                actor=worker,
                now=now - timedelta(days=3),
                source="cli",
            )
            made += 1
            if capacity:
                for person in rng.sample(crowd[1:], min(capacity + 2, len(crowd) - 1)):
                    activities.sign_up(activity, person, now=now - timedelta(days=1))
    return made


def _make_redemptions(communities, residents, merchants, now: datetime, rng: random.Random) -> int:
    """A month of redemptions at the demo shops, through the same code-and-ticket path."""
    count = 0
    for days_ago in range(30, 0, -1):
        for _n in range(rng.randint(1, 3)):
            merchant = rng.choice(merchants)
            community = rng.choice([c for c in merchant.communities])
            person = rng.choice(residents[community.name][:40])
            offer = rng.choice(merchant.offers)
            when = now - timedelta(days=days_ago, hours=rng.randint(0, 6))
            wallet = ledger.wallet_for(person)
            if ledger.balance(wallet) < offer.points_cost:
                continue
            code = personal_codes.issue(person, now=when)
            ticket = redemptions.start(code.token, merchant, operator=None, now=when)
            try:
                with db.session.begin_nested():
                    redemptions.redeem(
                        ticket=ticket,
                        merchant=merchant,
                        offer=offer,
                        quantity=1,
                        operator=None,
                        idempotency_key=f"demo-redemption-{days_ago}-{_n}",
                        now=when,
                        source="cli",
                    )
            except LinliError:  # a limit said no, as it would at the counter
                continue
            count += 1
    return count
