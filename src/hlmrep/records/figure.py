"""The figure caption record: a figure's name and the caption the report shows under it
(``figure``, :func:`hlmrep.report.figures.figure_job`); read by the report."""

from typing import TypedDict

from hlmrep.records import RecordKind


class FigureCaption(TypedDict):
    name: str
    caption: str


FIGURE_CAPTION = RecordKind(FigureCaption, "figure caption", "figure")
