"""Lesson code: what a notebook cell of notebooks 03 and 04 calls when its logic is longer than a few lines.

- :mod:`.nb03` -- notebook 03 (M2FA): labels as tensors, a simulated first stage, training M2FA
  alone, the reports (NME tables, residual signs).
- :mod:`.nb04` -- notebook 04 (LGS and the losses): training LGS alone, judging alpha_hat, the
  losses written out by hand, which modules L_g trains, short joint trainings with different lambda_4.
- :mod:`.fit` -- :func:`~.fit.fit_module`, the small training loop both notebooks' experiments share.

The science these lessons use lives in the library proper: the NME per face part in
:func:`m3lrn_lib.metrics.group_nme`, the parts in :data:`m3lrn_lib.morphable.IBUG_PARTS`, the
faces drawn from the priors in :func:`m3lrn_lib.data.prior.sample_prior_params`, and the
replicas of the public code's defects in :mod:`m3lrn_lib.nn.public_code`.
"""
