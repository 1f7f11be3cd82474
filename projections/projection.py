"""The projection that keeps every read model up to date, whatever the upstream context."""

from abc import ABC, abstractmethod
from typing import Any

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.projection import Projection


class ReadModelsView(TrackingRecorder, ABC):
    @abstractmethod
    def project(self, event: Any, tracking: Tracking) -> None:
        """Apply one event to every read model of the view, with its tracking, in one transaction."""


class ReadModelsProjection(Projection[ReadModelsView]):
    """Follows one context (a runner per context); the view decides what each read model makes of an event."""

    name = "readmodels"
    topics = ()

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.project(domain_event, tracking)
