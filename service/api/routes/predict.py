"""POST /predict and /predict/batch: faces and emotions in uploaded images."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, File, HTTPException, Query, UploadFile
from fastapi.responses import Response

from service.analysis import ImageAnalyzer
from service.api.deps import AnalyzerDep, DetectOptionsDep
from service.decoding import ImageError
from service.inference import DetectOptions
from service.schemas import BatchItem, BatchItemError, BatchResponse, ErrorInfo, ErrorResponse, PredictResponse

router = APIRouter(tags=["predict"])

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "not an image, or a corrupt or truncated one"},
    413: {"model": ErrorResponse, "description": "body over FER_MAX_BODY_BYTES or image over FER_MAX_PIXELS"},
    415: {"model": ErrorResponse, "description": "a file type other than JPEG, PNG, WebP or BMP"},
    422: {"model": ErrorResponse, "description": "missing form field or invalid query option"},
    503: {
        "model": ErrorResponse,
        "description": "server busy: too many images in flight, or no decode memory in time; retry after Retry-After",
    },
}
ANNOTATED_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}}, "description": "JSON result, or with annotate=true the image with boxes"}
}


@router.post("/predict", response_model=PredictResponse, responses={**ANNOTATED_RESPONSE, **ERROR_RESPONSES})
async def predict_image(
    file: Annotated[UploadFile, File(description="a JPEG, PNG, WebP or BMP image")],
    analyzer: AnalyzerDep,
    options: DetectOptionsDep,
    annotate_image: Annotated[
        bool, Query(alias="annotate", description="return image/jpeg with boxes, labels and confidences")
    ] = False,
) -> Any:
    """Detect the faces in one image and give each face's emotion probabilities."""
    analysis = await analyzer.analyse(await file.read(), file.content_type, options, annotated=annotate_image)
    if analysis.annotated_jpeg is not None:
        return Response(analysis.annotated_jpeg, media_type="image/jpeg")
    return analysis.to_response(analyzer.model_ref)


@router.post("/predict/batch", response_model=BatchResponse, responses=ERROR_RESPONSES)
async def predict_batch(
    files: Annotated[list[UploadFile], File(description="several images, one result each, in order", min_length=1)],
    analyzer: AnalyzerDep,
    options: DetectOptionsDep,
) -> BatchResponse:
    """Classify the faces in several images; a bad file gets an error entry instead of failing the batch."""
    # More than FER_MAX_BATCH_FILES files never get here: the form parser stops at the next one (413).
    uploads = [(await f.read(), f.content_type) for f in files]
    # Its files compete for the decode budget with each other: one that needs more than all of it
    # would wait out FER_DECODE_WAIT_S and get 503 however often it is retried.
    needed, budget = await analyzer.batch_reservation(uploads, options), analyzer.budget.capacity
    if needed > budget:
        detail = f"the batch needs {needed >> 20} MiB to decode, more than FER_DECODE_BUDGET_MB ({budget >> 20} MiB)"
        raise HTTPException(413, f"{detail}: send fewer or smaller files per batch")
    # All files at once, so their faces share inference batches.
    outcomes = await asyncio.gather(
        *(
            _analyse_upload(analyzer, f.filename or "", *upload, options)
            for f, upload in zip(files, uploads, strict=True)
        ),
        return_exceptions=True,
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):  # overload (503) or a bug fails the request as a whole
            raise outcome
    return BatchResponse(results=[o for o in outcomes if not isinstance(o, BaseException)])


async def _analyse_upload(
    analyzer: ImageAnalyzer, filename: str, data: bytes, content_type: str | None, options: DetectOptions
) -> BatchItem | BatchItemError:
    try:
        analysis = await analyzer.analyse(data, content_type, options)
    except ImageError as exc:
        return BatchItemError(filename=filename, error=ErrorInfo(status=exc.status_code, detail=exc.detail))
    return BatchItem(filename=filename, **analysis.to_response(analyzer.model_ref).model_dump())
