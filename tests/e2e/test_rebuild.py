"""Rebuilding the tables from the log: the same rows, while readers keep reading, and no
side effect runs again."""

import asyncio
import uuid

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.helpers import client, count_events, rebuild, seeded_assets, settled, user_rows

pytestmark = pytest.mark.e2e


async def side_effect_outcomes(platform, user: uuid.UUID) -> int:
    deleted = await count_events(platform, f"atelier.user.{user}.*.*.files_deleted")
    return deleted + await count_events(platform, f"atelier.user.{user}.library.*.stored")


async def test_rebuild_swaps_in_equal_tables_under_live_readers(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        assets = await seeded_assets(platform, api, user, 4)
        collection = (await api.post("/v1/library/collections", json={"name": "C"})).json()
        for asset in assets[:2]:
            await api.post(
                f"/v1/workspace/assets/{asset['id']}/save",
                json={"collection_id": collection["id"], "tags": ["x"]},
            )
        await api.delete(f"/v1/workspace/assets/{assets[3]['id']}")
        await settled(platform)
        before = await user_rows(platform, user)
        outcomes = await side_effect_outcomes(platform, user)

        statuses: list[int] = []
        stop = asyncio.Event()

        async def read_continuously() -> None:
            while not stop.is_set():
                for path in ("/v1/workspace/assets", "/v1/library/assets"):
                    statuses.append((await api.get(path)).status_code)

        reader = asyncio.create_task(read_continuously())
        for service in ("workspace", "library"):
            report = await asyncio.to_thread(rebuild, platform, service)
            assert report.startswith(f"rebuilt {service}")
        stop.set()
        await reader

    assert statuses
    assert set(statuses) == {200}, "a reader saw an error during the swap"
    assert await user_rows(platform, user) == before
    assert await side_effect_outcomes(platform, user) == outcomes, "a side effect ran again"


ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(
            ["save", "save_into", "discard", "clear_job", "move", "tag", "delete", "copy",
             "new_collection", "drop_collection"]
        ),
        st.integers(min_value=0, max_value=5),
    ),
    min_size=4,
    max_size=14,
)  # fmt: skip


# Bounded: a few examples, no shrinking (a failing example is printed as found).
@settings(
    max_examples=4,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(actions=ACTIONS)
async def test_random_actions_then_rebuild_gives_the_live_tables_row_for_row(platform, actions):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        workspace = await seeded_assets(platform, api, user, 4)
        collections = [(await api.post("/v1/library/collections", json={"name": "0"})).json()]
        for action, n in actions:
            asset = workspace[n % len(workspace)]
            library = (await api.get("/v1/library/assets")).json()["items"]
            item = library[n % len(library)] if library else None
            target = collections[n % len(collections)]["id"] if collections else None
            match action:
                case "save":
                    response = await api.post(f"/v1/workspace/assets/{asset['id']}/save")
                case "save_into":
                    response = await api.post(
                        f"/v1/workspace/assets/{asset['id']}/save",
                        json={"collection_id": target, "tags": [f"t{n}"]},
                    )
                case "discard":
                    response = await api.delete(f"/v1/workspace/assets/{asset['id']}")
                case "clear_job":
                    response = await api.post(
                        "/v1/workspace/clear", json={"job_id": asset["job_id"]}
                    )
                case "move" if item:
                    response = await api.patch(
                        f"/v1/library/assets/{item['id']}", json={"collection_id": target}
                    )
                case "tag" if item:
                    response = await api.patch(
                        f"/v1/library/assets/{item['id']}",
                        json={"tags": [f"t{n}"], "is_favorite": n % 2 == 0},
                    )
                case "delete" if item:
                    response = await api.delete(f"/v1/library/assets/{item['id']}")
                case "copy" if item:
                    response = await api.post(f"/v1/library/assets/{item['id']}/copy-to-workspace")
                case "new_collection":
                    response = await api.post("/v1/library/collections", json={"name": str(n)})
                    collections.append(response.json())
                case "drop_collection" if collections:
                    gone = collections.pop(n % len(collections))
                    response = await api.delete(f"/v1/library/collections/{gone['id']}")
                case _:
                    continue
            assert response.status_code < 500, (action, response.text)
            assert response.status_code in (200, 201, 202, 404, 409), (action, response.text)
        await settled(platform)
        live = await user_rows(platform, user)
        for service in ("workspace", "library"):  # here in one process, elsewhere in three
            await asyncio.to_thread(rebuild, platform, service, 1)
        assert await user_rows(platform, user) == live
