"""Exercises of notebook 00 (start here). Expected answers are computed, never stored."""
from ...morphable import load_face_model
from ..exercises import exercise
from ..map import lesson_for_equation


@exercise("00.1", "Which notebook introduces the cycle loss L_g (Eq. 6)? Its two-digit number as a string.",
          "course_map.lesson_for_equation(6).number, or the 'Eq. N: notebook' list in section 1.",
          solution="course_map.lesson_for_equation(6).number")
def _eq6(answer):
    want = lesson_for_equation(6).number
    got = f"{int(answer):02d}" if str(answer).strip().isdigit() else str(answer)
    ok = got == want
    return ok, f"notebook {got}" + ("" if ok else " does not introduce Eq. 6")


@exercise("00.2", "How many numbers does the model's parameter vector have (12 pose + shape + expression)?",
          "12 + model.n_shape + model.n_exp (or model.n_params).",
          solution="12 + model.n_shape + model.n_exp")
def _n_params(answer, model=None):
    model = load_face_model(model)
    ok = int(answer) == model.n_params
    return ok, f"{int(answer)} parameters" + ("" if ok else " is not 12 + K_s + K_e")
