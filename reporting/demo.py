"""The demo's submitted reports (API.md "Demo data"; issue 22, item 8). For the demo only.

For every closed grant of Region Örebro län from Socialstyrelsen (2023 until last year) and for
its 2018 SKL agreement money, CBHV writes each narrative section, a run is requested and
rendered after the grant was closed, and CBHV submits it: all through `reporting.services`, so
the demo's reports keep every rule a user's report keeps (the writer's role, every section
written, the period over). The deadline overview then shows them `submitted`, not overdue.

The texts are short examples, marked as such, with no person in them. The demo's visits start in
2023, so the 2018 SKL report's activity tables are empty; its texts say so.

Left unsubmitted: the current year's grant (its period is not over) and the Hälsovalsenheten
accounts (the demo's only approved application is for the current year). Linköpings kommun's
2021 grant has no CBHV user in the demo to write its report, so it stays as its finance user
sees it: overdue.

The PDFs are rendered here, in the seeding process (as the eager task would in development),
rather than queued: four small reports take about a second. Idempotent: a subject whose report
is submitted is skipped; a section that has text is not written again.
"""

from __future__ import annotations

from core.demo import OREBRO
from core.models import Organisation, User
from funding.models import Funder, Grant
from reporting import runs, selectors, services
from reporting.models import ReportKind, ReportRun, RunStatus
from reporting.subjects import Subject

MARK = "(Exempeltext i demodata.)"


def _socialstyrelsen_texts(grant: Grant) -> dict[str, str]:
    year = grant.year
    return {
        "use": (
            f"Bidraget {year} har använts till utökade hembesök enligt regionens program med "
            "sex besök under barnets första 15 månader, varav fyra utöver det ordinarie "
            "barnhälsovårdsprogrammet. Medlen har gått till ersättning per gemensamt hembesök "
            "med socialtjänsten, till Folktandvårdens medverkan och till CBHV:s samordning och "
            f"utbildning. {MARK}"
        ),
        "cooperation_municipalities": (
            "Besöken görs tillsammans med familjebehandlare från Örebro kommuns socialtjänst. "
            "Vi har haft gemensamma planeringsmöten varje månad och en gemensam introduktion "
            "för ny personal. Samverkan fungerar väl i de områden där programmet har pågått "
            f"längst. {MARK}"
        ),
        "cooperation_other": (
            "Folktandvården deltar i hembesöket vid 12 månader med råd om tandhälsa. Familjer "
            "har slussats vidare till öppen förskola och till mödrahälsovården när ett nytt "
            f"syskon väntas. Tolk har bokats till besöken när familjen har önskat det. {MARK}"
        ),
        "comments": (
            f"Redovisningen för {year} bygger på regionens uppgifter i Hembesök. Ekonomiska "
            "uppgifter och antal besök hämtas direkt från bokföringen och besöksregistreringen. "
            f"{MARK}"
        ),
    }


def _skl_texts(grant: Grant) -> dict[str, str]:
    return {
        "results": (
            f"Under {grant.year} startade utökade hembesök vid två BVC i områden med hög "
            "vårdtyngd. Fler familjer än tidigare fick hembesök med barnhälsovård och "
            f"socialtjänst tillsammans, och tandvården kom in tidigt. {MARK}"
        ),
        "sustained": (
            "Arbetet fortsätter inom regionens barnhälsovård. Regionen har beslutat att "
            "samordningen ska ligga kvar hos CBHV och att arbetssättet ska spridas till fler "
            f"BVC. {MARK}"
        ),
        "new_ways": (
            "Nya arbetssätt: gemensamma hembesök av BVC-sjuksköterska och familjebehandlare, "
            "Folktandvårdens medverkan i ett av besöken och gemensamma ärendediskussioner "
            f"mellan BVC och socialtjänst. {MARK}"
        ),
        "reached": (
            "Insatserna nådde förstagångsföräldrar och familjer som är nya i Sverige i de två "
            "områdena. I demodata registreras besök från 2023, därför är rapportens tabeller "
            f"över besök {grant.year} tomma. {MARK}"
        ),
        "challenges": (
            "Utmaningar: att rekrytera och behålla sjuksköterskor, tillgång till tolk och att "
            f"hitta tider som passar både BVC och socialtjänst. {MARK}"
        ),
        "needs": (
            "Behov framåt: långsiktig finansiering, gemensam uppföljning med socialtjänsten "
            f"och stöd i att nå grupper med lägre vaccinationstäckning. {MARK}"
        ),
    }


def seed() -> None:
    orebro = Organisation.objects.get(name=OREBRO)
    cbhv = User.objects.get(username="cbhv")
    grants = Grant.objects.filter(
        organisation=orebro,
        funder__in=[Funder.SOCIALSTYRELSEN, Funder.SKL],
        closed_at__isnull=False,
    ).order_by("year", "reference")
    for grant in grants:
        if grant.funder == Funder.SKL:
            _submit(cbhv, ReportKind.SKL, grant, _skl_texts(grant))
        else:
            _submit(cbhv, ReportKind.SOCIALSTYRELSEN, grant, _socialstyrelsen_texts(grant))


def _submit(cbhv: User, kind: str, grant: Grant, texts: dict[str, str]) -> None:
    """CBHV writes the missing sections, requests the report, renders it and submits it."""
    subject = Subject(kind, grant.organisation, grant.year, grant)
    if selectors.is_submitted(subject):
        return
    current = selectors.current_narratives(subject)
    services.narrative_save(
        user=cbhv,
        subject=subject,
        texts={
            section: text
            for section, text in texts.items()
            if section not in current or not current[section].text.strip()
        },
    )
    run, _created = services.report_request(user=cbhv, kind=kind, year=grant.year, grant=grant.pk)
    # Rendered here rather than by a worker: the seed submits it in the same transaction. The
    # task enqueued after commit then finds the run done and does nothing.
    runs.run_report_body(run.pk)
    run = ReportRun.objects.get(pk=run.pk)
    if run.status != RunStatus.DONE:
        raise RuntimeError(f"The demo's {kind} report {grant.reference} failed: {run.error}")
    services.report_submit(user=cbhv, run=run)
