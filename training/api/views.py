"""Training jobs under /t/<slug>/api/v1/training-jobs/: parse, call a service, map errors.

GET lists and retrieves (every role); POST submits, .../cancel/ and .../retry/ (owners and
maintainers, with a write-scoped token). Errors answer with the service's stable codes:
unknown_recipe, invalid_spec, unknown_column, missing_target, dataset_version_not_found,
quota_exceeded, job_finished, job_not_retryable, ...
"""

from __future__ import annotations

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from mlgov.api.errors import DomainError
from mlgov.api.viewsets import TenantGenericViewSet
from tenants.quotas import QuotaExceeded
from training.api.serializers import (
    TrainingJobCreateInput,
    TrainingJobDetailOutput,
    TrainingJobOutput,
)
from training.models import JobState, TrainingJob
from training.recipes import RECIPES
from training.selectors import jobs as selectors
from training.services import jobs as services


def _domain_error(error: services.JobError) -> DomainError:
    return DomainError(
        status_code=error.status, code=error.code, message=error.message, details=error.details
    )


class TrainingJobFilter(filters.FilterSet):
    state = filters.ChoiceFilter(choices=JobState.choices)
    recipe = filters.ChoiceFilter(choices=[(name, name) for name in sorted(RECIPES)])

    class Meta:
        model = TrainingJob
        fields = ["state", "recipe"]


class TrainingJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantGenericViewSet):
    serializer_class = TrainingJobOutput
    lookup_value_regex = "[0-9]{1,18}"
    filterset_class = TrainingJobFilter
    ordering_fields = ["created_at", "finished_at", "state"]
    permissions_required = {
        "list": selectors.VIEW_PERMISSION,
        "retrieve": selectors.VIEW_PERMISSION,
        "create": "training.add_trainingjob",
        "cancel": "training.cancel_trainingjob",
        "retry": "training.add_trainingjob",
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # OpenAPI generation, no user
            return TrainingJob.objects.none()
        return selectors.training_job_list(acting_user=self.request.user)

    def get_object(self) -> TrainingJob:
        try:
            return selectors.training_job_get(
                acting_user=self.request.user, job_id=int(self.kwargs["pk"])
            )
        except TrainingJob.DoesNotExist:
            raise NotFound() from None

    def _detail(self, job: TrainingJob, code: int = status.HTTP_200_OK) -> Response:
        fresh = selectors.training_job_get(acting_user=self.request.user, job_id=job.pk)
        return Response(TrainingJobDetailOutput(fresh).data, status=code)

    @extend_schema(responses=TrainingJobDetailOutput)
    def retrieve(self, request, *args, **kwargs):
        return Response(TrainingJobDetailOutput(self.get_object()).data)

    @extend_schema(request=TrainingJobCreateInput, responses={201: TrainingJobDetailOutput})
    def create(self, request, *args, **kwargs):
        data = TrainingJobCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            job = services.training_job_submit(
                acting_user=request.user,
                dataset_version_id=values["dataset_version"],
                recipe=values["recipe"],
                spec=values["spec"],
                registered_model_name=values["registered_model_name"],
                parallelism=values.get("parallelism", 1),
            )
        except services.JobError as error:
            raise _domain_error(error) from None
        except QuotaExceeded as error:
            raise error.as_domain_error() from None
        return self._detail(job, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=TrainingJobDetailOutput)
    @action(detail=True, methods=["post"])
    def cancel(self, request, *args, **kwargs):
        job = self.get_object()
        try:
            job = services.training_job_cancel(acting_user=request.user, job=job)
        except services.JobError as error:
            raise _domain_error(error) from None
        return self._detail(job)

    @extend_schema(request=None, responses={201: TrainingJobDetailOutput})
    @action(detail=True, methods=["post"])
    def retry(self, request, *args, **kwargs):
        job = self.get_object()
        try:
            new_job = services.training_job_retry(acting_user=request.user, job=job)
        except services.JobError as error:
            raise _domain_error(error) from None
        except QuotaExceeded as error:
            raise error.as_domain_error() from None
        return self._detail(new_job, status.HTTP_201_CREATED)
