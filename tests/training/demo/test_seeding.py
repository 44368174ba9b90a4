"""seed_demo registers the generated data sets and submits one job per recipe, once."""

from django.db import connection
from django_tenants.utils import schema_context

from registry.models import DatasetVersion
from tenants.models import Plan
from tests.conftest import user_in
from training.demo.seeding import seed_demo
from training.models import TrainingJob
from training.recipes import RECIPES


def test_seeds_data_and_one_job_per_recipe_once(alpha, django_capture_on_commit_callbacks):
    # given a plan that runs every demo job at once (the demo tenant's plan does)
    alpha.plan = Plan.objects.create(name="demo-test", max_concurrent_jobs=10)
    alpha.save(update_fields=["plan"])
    mia = user_in(alpha, "mia")
    with schema_context(alpha.schema_name):
        with django_capture_on_commit_callbacks(execute=False):
            first = seed_demo(user=mia)
            again = seed_demo(user=mia)
        # then three data sets with one version each, and every recipe got a job
        assert DatasetVersion.objects.count() == 3
        tracks = DatasetVersion.objects.get(dataset__name="Tracks with audio features")
        assert tracks.sensitive_attributes == ["artist_region"]
        assert {job.recipe for job in TrainingJob.objects.all()} == set(RECIPES)
        assert TrainingJob.objects.filter(state="queued").count() == len(first.jobs)
    # and a second run submits nothing new
    assert again.jobs == []
    assert len(again.skipped) == len(first.jobs)
    connection.set_schema_to_public()
