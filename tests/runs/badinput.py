"""The bad-input matrix: every command line, one row per malformed input.

A row is ``(command, args, message)``: run with the command's base arguments plus ``args``, the
command must exit with status 2, print exactly one ``error:`` line that contains ``message``
(which names the flag or the file), print no traceback, and write no file under ``{out}`` (the
row's own output directory, which every row's base arguments point at). ``{model}`` is a small
saved model and ``{file}`` an ordinary file. To cover a new command, add its base arguments to
``BASE`` and its rows to ``ROWS``.

Rows run in-process, one Python process per command (absl keeps one set of flags per process,
and two commands define flags of the same name), through :func:`run_rows`.
"""
DATASET = "--dataset=synthetic:image_shape=10x10x1,train_size=600,test_size=100,noise_std=0.6"

BASE = {
    "runs.train": [DATASET, "--valid_size=100", "--train_iters=4", "--eval_every=4", "--base_dir={out}"],
    "runs.lottery": [DATASET, "--valid_size=100", "--train_iters=4", "--eval_every=4", "--trials=1",
                     "--prune_iters=2", "--base_dir={out}"],
    "runs.attack": ["--model_path={model}", DATASET, "--output_dir={out}"],
    "runs.gengap": ["--setting=gaussian", "--n_max=3", "--reps=100", "--output_dir={out}"],
    "runs.export_plain": ["--model_path={model}", "--output={out}/plain.keras"],
    "runs.export_tflite": ["--model_path={model}", "--output={out}/model.tflite"],
    "runs.lottery_report": ["--base_dir={out}"],
    "runs.admm": [DATASET, "--valid_size=100", "--model=dense-300-100", "--prune_ratio=0.5", "--pretrain_iters=2",
                  "--admm_iters=2", "--admm_every=1", "--retrain_iters=2", "--eval_every=2", "--base_dir={out}"],
    "runs.admm_study": [DATASET, "--valid_size=100", "--widths=1,2", "--pretrain_iters=2", "--admm_iters=2",
                        "--admm_every=1", "--retrain_iters=2", "--eval_every=2", "--base_dir={out}"],
    "runs.admm_report": ["--base_dir={out}"],
    "runs.atmc": [DATASET, "--valid_size=100", "--model=dense-300-100", "--keep=0.1", "--dense_iters=2",
                  "--compress_iters=2", "--quant_iters=2", "--eval_every=2", "--batch_size=20",
                  "--attack=fgsm:eps=0.1", "--eval_attacks=fgsm:eps=0.1", "--base_dir={out}"],
    "runs.atmc_study": [DATASET, "--valid_size=100", "--model=dense-300-100", "--keeps=0.1", "--methods=ap",
                        "--dense_iters=2", "--compress_iters=2", "--eval_every=2", "--batch_size=20",
                        "--attack=fgsm:eps=0.1", "--eval_attacks=fgsm:eps=0.1", "--base_dir={out}"],
    "runs.flatness": [DATASET, "--valid_size=100", "--model=lenet:width=1", "--train_iters=2", "--eval_every=2",
                      "--batch_size=20", "--attack=pgd:eps=0.1,step_size=0.05,steps=2", "--variants=at trades:beta=1",
                      "--base_dir={out}"],
    "runs.flatness_report": ["--base_dir={out}"],
    "runs.gtn": ["--dataset=synthetic:image_shape=8x8x1,train_size=300,test_size=60,noise_std=0.6", "--valid_size=60",
                 "--learner=conv:width=2", "--inner_steps=2", "--few_steps=1", "--inner_batch=10", "--generator_hidden=8",
                 "--generator_channels=4", "--outer_iters=1", "--outer_batch=10", "--base_dir={out}"],
    "runs.gtn_robustness": ["--gtn_dir={out}/gtn", "--learners=linear", "--seeds=1"],
    "runs.tune_prune": [DATASET, "--valid_size=100", "--model=dense-300-100", "--pretrain_iters=2", "--admm_iters=2",
                        "--admm_every=1", "--retrain_iters=2", "--eval_every=2", "--target_compression=4",
                        "--max_trials=2", "--base_dir={out}"],
}

ROWS = [
    # runs.train: flags absl parses
    ("runs.train", ["--batch_size=abc"], "flag --batch_size=abc"),
    ("runs.train", ["--nesterov=maybe"], "--nesterov"),
    ("runs.train", ["--no_such_flag=1"], "no_such_flag"),
    ("runs.train", ["stray"], "unexpected arguments: stray"),
    ("runs.train", ["--flagfile=flags/no_such_file.cfg"], "no_such_file.cfg"),
    # runs.train: TrainConfig's ranges
    ("runs.train", ["--batch_size=0"], "--batch_size=0 is not allowed"),
    ("runs.train", ["--eval_batch_size=-3"], "--eval_batch_size=-3 is not allowed"),
    ("runs.train", ["--train_iters=-5"], "--train_iters=-5 is not allowed"),
    ("runs.train", ["--eval_every=0"], "--eval_every=0 is not allowed"),
    ("runs.train", ["--valid_size=-1"], "--valid_size=-1 is not allowed"),
    ("runs.train", ["--eval_examples=-2"], "--eval_examples=-2 is not allowed"),
    ("runs.train", ["--seed=-1"], "--seed=-1 is not allowed"),
    ("runs.train", ["--learning_rate=0"], "--learning_rate=0.0 is not allowed"),
    ("runs.train", ["--learning_rate=nan"], "--learning_rate=nan is not allowed"),
    ("runs.train", ["--label_smoothing=1.0"], "--label_smoothing=1.0 is not allowed"),
    ("runs.train", ["--momentum=-0.5"], "--momentum=-0.5 is not allowed"),
    ("runs.train", ["--weight_decay=inf"], "--weight_decay=inf is not allowed"),
    ("runs.train", ["--l1_reg=-1"], "--l1_reg=-1.0 is not allowed"),
    ("runs.train", ["--min_lr_factor=2"], "--min_lr_factor=2.0 is not allowed"),
    ("runs.train", ["--cycle_iters=0"], "--cycle_iters=0 is not allowed"),
    ("runs.train", ["--optimizer=lbfgs"], "--optimizer='lbfgs' is not allowed; allowed: adam, sgd"),
    ("runs.train", ["--schedule=exponential"], "--schedule='exponential' is not allowed"),
    ("runs.train", ["--schedule=piecewise"], "--lr_boundaries"),
    ("runs.train", ["--schedule=piecewise", "--lr_boundaries=10,5", "--lr_factors=0.1,0.01"], "--lr_boundaries"),
    ("runs.train", ["--schedule=piecewise", "--lr_boundaries=2", "--lr_factors=abc"], "--lr_factors=abc"),
    ("runs.train", ["--schedule=piecewise", "--lr_boundaries=2", "--lr_factors=-1"], "--lr_factors"),
    ("runs.train", ["--strategy=tpu"], "--strategy='tpu' is not allowed"),
    ("runs.train", ["--devices=GPU:0"], "only --strategy=mirrored takes devices"),
    ("runs.train", ["--strategy=mirrored", "--devices=GPU:7"], "--devices: no device GPU:7"),
    ("runs.train", ["--strategy=multi_worker"], "needs the TF_CONFIG environment variable"),
    ("runs.train", ["--experiment=../elsewhere"], "--experiment='../elsewhere' is not allowed"),
    ("runs.train", ["--experiment="], "--experiment='' is not allowed"),
    # runs.train: specs
    ("runs.train", ["--objective=pgd"], "--objective=pgd: unknown training objective 'pgd'"),
    ("runs.train", ["--objective=mix:adv_weight=1.5"], "--objective=mix:adv_weight=1.5: objective 'mix'"),
    ("runs.train", ["--objective=mix:beta=1"], "training objective 'mix' has no option 'beta'"),
    ("runs.train", ["--objective=mix:adv_weight=half"], "adv_weight='half' is not a valid float"),
    ("runs.train", ["--objective=trades", "--attack=fgsm"], "--objective=trades: objective 'trades' takes"),
    ("runs.train", ["--objective=trades:beta=-1"], "beta=-1.0 is not allowed"),
    ("runs.train", ["--attack=hopskipjump"], "--attack=hopskipjump: unknown attack 'hopskipjump'"),
    ("runs.train", ["--attack=pgd:eps=-0.3"], "--attack=pgd:eps=-0.3: attack 'pgd': eps=-0.3 is not allowed"),
    ("runs.train", ["--attack=pgd:norm=l1"], "norm='l1' is not allowed"),
    ("runs.train", ["--attack=pgd:steps=ten"], "steps='ten' is not a valid int"),
    ("runs.train", ["--attack=pgd:steps=0"], "steps=0 is not allowed"),
    ("runs.train", ["--attack=pgd:restarts=0"], "restarts=0 is not allowed"),
    ("runs.train", ["--attack=pgd:eps"], "expected key=value"),
    ("runs.train", ["--attack=fgsm:targeted=true"], "--attack=fgsm:targeted=true: targeted=true needs target"),
    ("runs.train", ["--attack=gaussian_blur:std=-1"], "std=-1.0 is not allowed"),
    ("runs.train", ["--eval_attacks=cw"], "--eval_attacks=cw: unknown attack 'cw'"),
    ("runs.train", ["--eval_attacks=fgsm:eps=-1"], "--eval_attacks=fgsm:eps=-1"),
    ("runs.train", ["--model=resnet50"], "--model=resnet50: unknown model 'resnet50'"),
    ("runs.train", ["--model=lenet:width=0"], "width must be a positive integer"),
    ("runs.train", ["--model=lenet:depth=3"], "model 'lenet' has no option 'depth'"),
    ("runs.train", ["--dataset=imagenet"], "--dataset=imagenet: unknown dataset 'imagenet'"),
    ("runs.train", ["--dataset=synthetic:image_shape=abc"], "--dataset=synthetic:image_shape=abc"),
    ("runs.train", ["--dataset=mnist", "--data_dir={out}/none"], "mnist"),
    ("runs.train", ["--valid_size=600"], "valid_size=600 is not allowed for dataset 'synthetic'"),
    ("runs.train", ["--model=caffe-lenet", "--dataset=synthetic:image_shape=4x4x1,train_size=600,test_size=100"],
     "--model=caffe-lenet: model 'caffe-lenet' cannot be built for inputs of shape (4, 4, 1)"),
    ("runs.train", ["--model=dense-300-100:hidden=0x100"], "hidden layer sizes must be positive integers"),
    ("runs.train", ["--attack=gaussian_blur:std=50"], "--attack=gaussian_blur:std=50.0: attack 'gaussian_blur': std=50.0"),
    ("runs.attack", ["--attacks=gaussian_blur:std=50"], "too large for 10x10 images"),
    ("runs.train", ["--seed=99999999999999999999"], "--seed=99999999999999999999 is not allowed"),
    ("runs.train", ["--base_dir={file}"], "--base_dir=" ),
    ("runs.train", ["--base_dir={file}/below"], "is a file, so the directory cannot be made"),
    ("runs.train", ["--dataset=synthetic:num_classes=1"], "num_classes"),
    ("runs.lottery", ["--base_dir={file}"], "is a file; it must be a directory"),
    ("runs.lottery", ["--prune_rate=0.99", "--prune_iters=5", "--train_iters=2"], "leaves it no weights at round 3"),
    ("runs.attack", ["--output_dir={file}"], "--output_dir="),
    ("runs.export_plain", ["--output={file}/plain.keras"], "plain.txt is a file"),
    ("runs.lottery_report", ["--output_dir={file}"], "--output_dir="),
    # runs.lottery
    ("runs.lottery", ["--experiment=reinit_best"], "--reset='reinit_best' is not allowed"),
    ("runs.lottery", ["--reset=reinit_best"], "--reset='reinit_best' is not allowed"),
    ("runs.lottery", ["--prune_rate=1.2"], "--prune_rate=1.2 is not allowed; a pruning rate must be in [0, 1)"),
    ("runs.lottery", ["--prune_rate=-0.1"], "--prune_rate=-0.1 is not allowed"),
    ("runs.lottery", ["--output_prune_rate=1"], "--output_prune_rate=1.0 is not allowed"),
    ("runs.lottery", ["--global_prune_rate=1.5"], "--global_prune_rate=1.5 is not allowed"),
    ("runs.lottery", ["--layer_prune_rates=hidden_1"], "--layer_prune_rates='hidden_1' is not allowed"),
    ("runs.lottery", ["--layer_prune_rates=hidden_1=2"], "--layer_prune_rates='hidden_1=2' is not allowed"),
    ("runs.lottery", ["--layer_prune_rates=fc_9=0.5"], "no masked layer named 'fc_9'"),
    ("runs.lottery", ["--skip_layers=fc_7"], "no masked layer named 'fc_7'; known: hidden_1, hidden_2, output"),
    ("runs.lottery", ["--layer_prune_rates=hidden_1=0.5", "--global_prune_rate=0.2"], "cannot be combined"),
    ("runs.lottery", ["--rewind_iter=999"], "--rewind_iter=999 is not allowed"),
    ("runs.lottery", ["--reset=reinit_rand", "--rewind_iter=2"], "only --reset=reinit_orig"),
    ("runs.lottery", ["--orig_reset_source=final"], "--orig_reset_source='final' is not allowed"),
    ("runs.lottery", ["--trials=0"], "--trials=0 is not allowed"),
    ("runs.lottery", ["--prune_iters=0"], "--prune_iters=0 is not allowed"),
    ("runs.lottery", ["--attack=cw"], "--attack=cw: unknown attack 'cw'"),
    ("runs.lottery", ["--eval_attacks=pgd:eps=-1"], "--eval_attacks=pgd:eps=-1"),
    ("runs.lottery", ["--dataset=cifar100"], "--dataset=cifar100: unknown dataset 'cifar100'"),
    ("runs.lottery", ["--model=lenet:width=-2"], "width must be a positive integer"),
    ("runs.lottery", ["--adv_train", "--objective=madry"], "--objective=madry and --adv_train/--adv_weight"),
    ("runs.lottery", ["--adv_weight=0.3"], "--adv_weight=0.3 needs --adv_train"),
    ("runs.lottery", ["--adv_train", "--adv_weight=2"], "adv_weight=2.0 is not allowed"),
    ("runs.lottery", ["--strategy=cluster"], "--strategy"),
    ("runs.lottery", ["--devices=0"], "--devices: no device GPU:0"),
    ("runs.lottery", ["--learning_rate=-1"], "--learning_rate=-1.0 is not allowed"),
    ("runs.lottery", ["--batch_size=0"], "--batch_size=0 is not allowed"),
    ("runs.lottery", ["--log_every=0"], "--log_every"),
    ("runs.lottery", ["--trial=5"], "--trial=5 is not allowed; this search has trials 0..0"),
    ("runs.lottery", ["--trial=0", "--force"], "--force with --trial would wipe the other trials' work"),
    ("runs.lottery", ["--eval_attacks=autoattack:version=newest"], "--eval_attacks=autoattack:version=newest: attack "
     "'autoattack': version='newest' is not allowed"),
    ("runs.lottery", ["--eval_attacks=apgd_t:target_classes=10"], "--eval_attacks=apgd_t:target_classes=10: attack "
     "'apgd_t': target_classes=10 is more than the 9 other classes of a 10-class dataset"),
    ("runs.train", ["--eval_attacks=fab_t:target_classes=11"], "--eval_attacks=fab_t:target_classes=11: attack 'fab_t': "
     "target_classes=11"),
    # runs.attack
    ("runs.attack", ["--attacks=pgd:eps=-0.3"], "--attacks=pgd:eps=-0.3: attack 'pgd': eps=-0.3 is not allowed"),
    ("runs.attack", ["--attacks=cw"], "--attacks=cw: unknown attack 'cw'"),
    ("runs.attack", ["--attacks=pgd:step_size=x"], "step_size='x' is not a valid float"),
    ("runs.attack", ["--dataset=imagenet"], "unknown dataset 'imagenet'"),
    ("runs.attack", ["--model_path={out}/nothing.keras"], "no model file at"),
    ("runs.attack", ["--model_path={file}"], "is not a .keras file"),
    ("runs.attack", ["--model_path={garbage}"], "cannot load a model from"),
    ("runs.attack", ["--split=valid"], "--split=valid needs --valid_size > 0"),
    ("runs.attack", ["--split=train"], "--split"),
    ("runs.attack", ["--batch_size=0"], "--batch_size"),
    ("runs.attack", ["--max_examples=0"], "--max_examples"),
    ("runs.attack", ["--dataset=synthetic:image_shape=12x12x1"], "takes inputs of shape (10, 10, 1)"),
    ("runs.attack", ["--dataset=synthetic:image_shape=10x10x1,num_classes=12"], "has 12 classes but --model_path outputs 10"),
    ("runs.attack", ["--attacks=fgsm:targeted=true"], "--attacks=fgsm:targeted=true: targeted=true needs"),
    # runs.attack: AutoAttack and its attacks
    ("runs.attack", ["--attacks=autoattack:version=extra"],
     "--attacks=autoattack:version=extra: attack 'autoattack': version='extra' is not allowed"),
    ("runs.attack", ["--attacks=autoattack:eps=0"], "--attacks=autoattack:eps=0: attack 'autoattack': eps=0.0 is not allowed"),
    ("runs.attack", ["--attacks=apgd:eps=-0.1"], "--attacks=apgd:eps=-0.1: attack 'apgd': eps=-0.1 is not allowed"),
    ("runs.attack", ["--attacks=autoattack:norm=l1"], "--attacks=autoattack:norm=l1: attack 'autoattack': norm='l1' is not allowed"),
    ("runs.attack", ["--attacks=apgd_t:norm=l0"], "--attacks=apgd_t:norm=l0: attack 'apgd_t': norm='l0' is not allowed"),
    ("runs.attack", ["--attacks=square:norm=l1"], "--attacks=square:norm=l1: attack 'square': norm='l1' is not allowed"),
    ("runs.attack", ["--attacks=fab_t:norm=l1"], "--attacks=fab_t:norm=l1: attack 'fab_t': norm='l1' is not allowed"),
    ("runs.attack", ["--attacks=deepfool:norm=l1"], "--attacks=deepfool:norm=l1: attack 'deepfool': norm='l1' is not allowed"),
    ("runs.attack", ["--attacks=apgd_t:target_classes=10"],
     "--attacks=apgd_t:target_classes=10: attack 'apgd_t': target_classes=10 is more than the 9 other classes of a 10-class dataset"),
    ("runs.attack", ["--attacks=fab_t:target_classes=12"], "--attacks=fab_t:target_classes=12: attack 'fab_t': target_classes=12"),
    ("runs.attack", ["--dataset=synthetic:image_shape=10x10x1,num_classes=3", "--attacks=autoattack:eps=0.1"],
     "--attacks=autoattack:eps=0.1: attack 'autoattack', stage apgd-t: attack 'apgd_t': the targeted DLR loss needs 4 classes"),
    ("runs.attack", ["--attacks=autoattack:version=custom"], "attacks='' is not allowed; attacks must be a '+'-separated list"),
    ("runs.attack", ["--attacks=autoattack:version=custom,attacks=apgd-ce+pgd"], "attacks='apgd-ce+pgd' is not allowed"),
    ("runs.attack", ["--attacks=autoattack:attacks=square"], "attacks='square' is not allowed; attacks must be empty unless version=custom"),
    ("runs.attack", ["--attacks=cw_l2:binary_steps=0"], "--attacks=cw_l2:binary_steps=0: attack 'cw_l2': binary_steps=0 is not allowed"),
    ("runs.attack", ["--check_examples=0"], "--check_examples"),
    ("runs.attack", ["--model_path="], "--model_path"),
    # runs.gengap
    ("runs.gengap", ["--setting=logistic"], "--setting=logistic is not allowed"),
    ("runs.gengap", ["--eps=-1"], "eps"),
    ("runs.gengap", ["--eps=abc"], "--eps=abc: 'abc' is not a number"),
    ("runs.gengap", ["--reps=0"], "--reps=0 is not allowed"),
    ("runs.gengap", ["--tau=0.5"], "--tau does not apply to --setting=gaussian"),
    ("runs.gengap", ["--setting=bernoulli", "--tau=1.5"], "tau"),
    ("runs.gengap", ["--n=0", "--n_max=-1"], "--n and --n_max are both given"),
    ("runs.gengap", ["--n_max=0"], "--n_max=0 is not allowed"),
    ("runs.gengap", ["--dim=0"], "dim=0 is not allowed"),
    ("runs.gengap", ["--sigma=-2"], "sigma"),
    ("runs.gengap", ["--output_dir="], "--output_dir is required"),
    ("runs.gengap", ["--output_dir={file}"], "is a file"),
    ("runs.gengap", ["--exact_horizon=1000000000000"], "--exact_horizon=1000000000000 is not allowed"),
    # runs.export_plain and runs.lottery_report
    ("runs.export_plain", ["--model_path={out}/none.keras"], "no model file at"),
    ("runs.export_plain", ["--model_path={file}"], "is not a .keras file"),
    ("runs.export_plain", ["--output={out}/plain.h5"], "must end in .keras"),
    ("runs.lottery_report", [], "no finished lottery run (results.json of kind 'lottery') under"),
    ("runs.lottery_report", ["--base_dir={garbage_dir}"], "cannot read"),
    # runs.admm
    ("runs.admm", ["--prune_ratios=hidden_1:1.2"], "--prune_ratios='hidden_1:1.2' is not allowed"),
    ("runs.admm", ["--prune_ratios=hidden_1"], "write layer:ratio with the ratio in [0, 1)"),
    ("runs.admm", ["--prune_ratios=hidden_1:-0.5"], "--prune_ratios='hidden_1:-0.5' is not allowed"),
    ("runs.admm", ["--prune_ratios=conv_9:0.5"], "no masked layer named 'conv_9'; known: hidden_1, hidden_2, output"),
    ("runs.admm", ["--prune_ratios=hidden_1:0.5,hidden_1:0.6"], "--prune_ratios names 'hidden_1' twice"),
    ("runs.admm", ["--prune_ratio=1"], "--prune_ratio=1.0 is not allowed"),
    ("runs.admm", ["--prune_ratio=0"], "nothing to prune"),
    ("runs.admm", ["--rho=0"], "--rho=0.0 is not allowed"),
    ("runs.admm", ["--rho=-0.001"], "--rho=-0.001 is not allowed"),
    ("runs.admm", ["--rho=nan"], "--rho=nan is not allowed"),
    ("runs.admm", ["--rho_growth=0.9"], "--rho_growth=0.9 is not allowed"),
    ("runs.admm", ["--sparsity=block"], "--sparsity='block' is not allowed; allowed: irregular, filter, column"),
    ("runs.admm", ["--admm_every=0"], "--admm_every=0 is not allowed"),
    ("runs.admm", ["--pretrain_iters=-1"], "--pretrain_iters=-1 is not allowed"),
    ("runs.admm", ["--retrain_iters=0"], "--retrain_iters=0 is not allowed"),
    ("runs.admm", ["--retrain_from=rewind"], "--retrain_from='rewind' is not allowed"),
    ("runs.admm", ["--admm_optimizer=lbfgs"], "--admm_optimizer='lbfgs' is not allowed"),
    ("runs.admm", ["--retrain_learning_rate=0"], "--retrain_learning_rate=0.0 is not allowed"),
    ("runs.admm", ["--attack=cw"], "--attack=cw: unknown attack 'cw'"),
    ("runs.admm", ["--model=lenet:width=0"], "width must be a positive integer"),
    ("runs.admm", ["--batch_size=0"], "--batch_size=0 is not allowed"),
    ("runs.admm", ["--base_dir={file}"], "is a file; it must be a directory"),
    ("runs.admm", ["--final_attack=autoattack:version=big"], "--final_attack=autoattack:version=big"),
    ("runs.tune_prune", ["--final_attack=cw"], "--final_attack=cw: unknown attack 'cw'"),
    # runs.admm_study and runs.admm_report
    ("runs.admm_study", ["--widths=1,x"], "--widths=1,x: each item must be an integer"),
    ("runs.admm_study", ["--widths=0,1"], "--widths=0,1 is not allowed"),
    ("runs.admm_study", ["--methods=admm,magic"], "unknown method 'magic'; allowed: admm, oneshot, admm-lt"),
    ("runs.admm_study", ["--lottery_from=4"], "--lottery_from=4: 4 is not among --widths"),
    ("runs.admm_study", ["--prune_ratios=conv_1:0.5"], "--prune_ratios: the study sets each pair's ratios"),
    ("runs.admm_study", ["--pretrain_iters=0"], "--pretrain_iters=0: the study's adversarial baselines"),
    ("runs.admm_study", ["--rho=0"], "--rho=0.0 is not allowed"),
    ("runs.admm_study", ["--model=dense-300-100"], "--model=dense-300-100"),
    ("runs.admm_study", ["--base_dir={file}"], "is a file; it must be a directory"),
    ("runs.admm_study", ["--final_attack=cw"], "--final_attack=cw: unknown attack 'cw'"),
    ("runs.admm_study", ["--final_attack=autoattack:eps=-1"], "--final_attack=autoattack:eps=-1"),
    ("runs.admm_study", ["--final_examples=-1"], "--final_examples=-1"),
    ("runs.admm", ["--final_examples=-1"], "--final_examples=-1"),
    ("runs.admm_report", [], "study.json does not exist: run runs.admm_study"),
    ("runs.admm_report", ["--base_dir={garbage_dir}"], "study.json does not exist"),
    # runs.tune_prune
    ("runs.tune_prune", ["--target_compression=200"], "--target_compression=200 cannot be reached: pruning hidden_1, "
                                                      "hidden_2, output at --max_ratio=0.99 compresses 100x at most"),
    ("runs.tune_prune", ["--layers=hidden_1", "--target_compression=8"], "--target_compression=8 cannot be reached"),
    ("runs.tune_prune", ["--target_compression=0.5"], "--target_compression=0.5 is not allowed"),
    ("runs.tune_prune", ["--max_ratio=1"], "--max_ratio=1.0 is not allowed"),
    ("runs.tune_prune", ["--min_ratio=0.995"], "--min_ratio=0.995 is not allowed"),
    ("runs.tune_prune", ["--layers=conv_9"], "--layers: no prunable layer named 'conv_9'; known: hidden_1, hidden_2, output"),
    ("runs.tune_prune", ["--oracle=grid"], "--oracle='grid' is not allowed; allowed: bayesian, hyperband, random"),
    ("runs.tune_prune", ["--prune_ratios=hidden_1:0.5"], "--prune_ratios: the tuner sets the ratios"),
    ("runs.tune_prune", ["--rho=-1"], "--rho=-1.0 is not allowed"),
    ("runs.tune_prune", ["--max_trials=0"], "--max_trials"),
    ("runs.tune_prune", ["--base_dir={file}"], "is a file; it must be a directory"),
    # runs.export_tflite
    ("runs.export_tflite", ["--weights=int4"], "--weights='int4' is not allowed; allowed: float32, int8"),
    ("runs.export_tflite", ["--model_path={out}/nothing.keras"], "no model file at"),
    ("runs.export_tflite", ["--model_path={file}"], "is not a .keras file"),
    ("runs.export_tflite", ["--model_path={garbage}"], "cannot load a model from"),
    ("runs.export_tflite", ["--output={file}/model.tflite"], "plain.txt is a file"),
    ("runs.export_tflite", ["--output={out}/model.keras"], "--output='"),
    ("runs.export_tflite", ["--check_examples=0"], "--check_examples"),
    ("runs.export_tflite", ["--dataset=imagenet"], "--dataset=imagenet: unknown dataset 'imagenet'"),
    ("runs.export_tflite", [DATASET.replace("10x10x1", "12x12x1")], "takes inputs of shape (10, 10, 1)"),
    # runs.atmc and runs.atmc_study
    ("runs.atmc", ["--bits=0"], "--bits=0 is not allowed; it must be an integer in [1, 32]"),
    ("runs.atmc", ["--bits=33"], "--bits=33 is not allowed"),
    ("runs.atmc", ["--keep=0"], "--keep=0.0 is not allowed; the kept fraction must be in (0, 1]"),
    ("runs.atmc", ["--keep=1.5"], "--keep=1.5 is not allowed"),
    ("runs.atmc", ["--method=svd"], "--method='svd' is not allowed; allowed: atmc, da, nap, ap, al0, alr, qat"),
    ("runs.atmc", ["--method=alr", "--ranks=output:11"], "--ranks: rank 11 is above the full rank 10"),
    ("runs.atmc", ["--ranks=hidden_9:4"], "--ranks names 'hidden_9'; the model's layers: hidden_1, hidden_2, output"),
    ("runs.atmc", ["--ranks=hidden_1"], "write layer:rank with an integer rank >= 1"),
    ("runs.atmc", ["--quant_method=lloyd"], "--quant_method='lloyd' is not allowed; allowed: kmeans, uniform"),
    ("runs.atmc", ["--bits=1", "--quant_method=uniform"], "--bits=1 --quant_method=uniform"),
    ("runs.atmc", ["--rho=0"], "--rho=0.0 is not allowed"),
    ("runs.atmc", ["--quant_every=0"], "--quant_every=0 is not allowed"),
    ("runs.atmc", ["--dense_iters=0"], "--dense_iters=0 is not allowed"),
    ("runs.atmc", ["--eval_attacks=wrm:gamma=0"], "--eval_attacks=wrm:gamma=0"),
    ("runs.atmc", ["--model=caffe-lenet"], "--model=caffe-lenet"),
    ("runs.atmc", ["--base_dir={file}"], "is a file; it must be a directory"),
    ("runs.atmc_study", ["--keeps=0"], "--keeps=0.0 is not allowed"),
    ("runs.atmc_study", ["--keeps=abc"], "--keeps=abc: each item must be a number in (0, 1]"),
    ("runs.atmc_study", ["--keeps="], "--keeps is empty"),
    ("runs.atmc_study", ["--methods=ap,svd"], "--methods=ap,svd: unknown method 'svd'"),
    ("runs.atmc_study", ["--final_attack=cw"], "--final_attack=cw: unknown attack 'cw'"),
    ("runs.atmc_study", ["--bits=40"], "--bits=40 is not allowed"),
    # runs.flatness and runs.flatness_report
    ("runs.flatness", ["--variants=at sharpness"], "--variants: unknown variant 'sharpness'; known: at, cyclic"),
    ("runs.flatness", ["--variants=trades:beta=-1"], "--variants: trades:beta=-1: --objective=trades:beta=-1: objective "
                                                    "'trades': beta=-1.0 is not allowed"),
    ("runs.flatness", ["--variants=mart:beta=nan"], "objective 'mart': beta=nan is not allowed"),
    ("runs.flatness", ["--variants=awp:xi=-0.1"], "awp:xi=-0.1"),
    ("runs.flatness", ["--variants=label_noise:p=1"], "--variants: label_noise:p=1: --label_noise=1.0 is not allowed"),
    ("runs.flatness", ["--variants=label_smoothing:value=x"], "value='x' is not a valid float"),
    ("runs.flatness", ["--variants=weight_clip:w_max=-1"], "--weight_clip=-1.0 is not allowed"),
    ("runs.flatness", ["--variants=at at"], "--variants: 'at' is listed twice"),
    ("runs.flatness", ["--variants="], "--variants is empty"),
    ("runs.flatness", ["--variants=entropy_sgd:inner_steps=0"], "inner_steps=0"),
    ("runs.flatness", ["--train_examples=-1"], "--train_examples=-1 is not allowed"),
    ("runs.flatness", ["--train_examples=600"], "--train_examples=600 (max_train) is not allowed"),
    ("runs.flatness", ["--early_stopping", "--valid_size=0"], "--early_stopping needs a validation split"),
    ("runs.flatness", ["--base_dir={file}"], "is a file; it must be a directory"),
    ("runs.flatness_report", ["--avg_xi=-0.5"], "--avg_xi=-0.5 is not allowed"),
    ("runs.flatness_report", ["--worst_xi=nan"], "--worst_xi=nan is not allowed"),
    ("runs.flatness_report", ["--avg_draws=0"], "--avg_draws=0 is not allowed"),
    ("runs.flatness_report", ["--worst_restarts=0"], "--worst_restarts=0 is not allowed"),
    ("runs.flatness_report", ["--hessian_examples=-1"], "--hessian_examples=-1 is not allowed"),
    ("runs.flatness_report", ["--rloss_attack=pgd:eps=-1"], "--rloss_attack=pgd:eps=-1"),
    ("runs.flatness_report", ["--final_attack=sharpness"], "--final_attack=sharpness: unknown attack 'sharpness'"),
    ("runs.flatness_report", [], "zoo.json does not exist: train the zoo first"),
    # runs.gtn and runs.gtn_robustness
    ("runs.gtn", ["--inner_steps=0"], "--inner_steps=0 is not allowed"),
    ("runs.gtn", ["--few_steps=3"], "--few_steps=3 is not allowed; it must be at most --inner_steps=2"),
    ("runs.gtn", ["--learner=resnet"], "--learner=resnet: unknown learner 'resnet'"),
    ("runs.gtn", ["--learner=conv:width=0"], "width=0 must be an integer >= 1"),
    ("runs.gtn", ["--learner=mlp:depth=2"], "learner 'mlp' has no option 'depth'"),
    ("runs.gtn", ["--inner_lr=-0.1"], "--inner_lr=-0.1 is not allowed"),
    ("runs.gtn", ["--inner_momentum=nan"], "--inner_momentum=nan is not allowed"),
    ("runs.gtn", ["--outer_lr_final=0"], "--outer_lr_final=0.0 is not allowed"),
    ("runs.gtn", ["--ablation=sorted"], "--ablation='sorted' is not allowed; choose one of none, no_curriculum"),
    ("runs.gtn", ["--outer_loss=best"], "--outer_loss='best' is not allowed"),
    ("runs.gtn", ["--dataset=synthetic:image_shape=10x10x1,train_size=300,test_size=60"],
     "its 10x10 images cannot be generated"),
    ("runs.gtn", ["--dataset=mnist", "--data_dir={out}/none"], "mnist"),
    ("runs.gtn", ["--base_dir={file}"], "is a file; it must be a directory"),
    ("runs.gtn_robustness", ["--noise_betas=0,-0.5,1"], "--noise_betas=0.0,-0.5,1.0: -0.5 is not allowed"),
    ("runs.gtn_robustness", ["--lbfgs_betas=-20"], "--lbfgs_betas=-20.0: -20.0 is not allowed"),
    ("runs.gtn_robustness", ["--blur_betas=nan"], "nan is not allowed"),
    ("runs.gtn_robustness", ["--ifgsm_betas=0.02,0.01"], "--ifgsm_betas=(0.02, 0.01) is not allowed; give increasing"),
    ("runs.gtn_robustness", ["--learners=lenet"], "--learners=lenet: unknown learner 'lenet'"),
    ("runs.gtn_robustness", ["--seeds=0"], "--seeds=0 is not allowed"),
    ("runs.gtn_robustness", ["--autoattack=autoattack:eps=x"], "--autoattack=autoattack:eps=x"),
    ("runs.gtn_robustness", ["--learners=linear linear"], "--learners='linear linear' is not allowed; each learner"),
    ("runs.gtn_robustness", ["--threshold=1"], "--threshold=1.0 is not allowed"),
    ("runs.gtn_robustness", [], "does not exist; train a GTN with python -m runs.gtn first"),
    ("runs.gtn_robustness", ["--gtn_dir="], "--gtn_dir is required"),
    ("runs.gtn_robustness", ["--gtn_dir={file}"], "is not a GTN run directory"),
]

RUNNER = """
import contextlib, importlib, io, json, sys, traceback
from absl import flags
from runs import common
module = importlib.import_module(sys.argv[1])
results = []
for args in json.loads(sys.argv[2]):
    flags.FLAGS.unparse_flags()
    err, out, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            common.run(module.main, argv=[sys.argv[1], *args])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            code = "exception"
            traceback.print_exc(file=err)
    results.append({"code": code, "stderr": err.getvalue(), "stdout": out.getvalue()})
print("RESULTS " + json.dumps(results))
"""


def run_rows(command, rows, root, values, cwd, env):
    """Runs ``rows`` (lists of args) of ``command`` in one process; returns (results, out dirs)."""
    import json
    import os
    import subprocess
    import sys

    outs, argvs = [], []
    for i, args in enumerate(rows):
        out = os.path.join(root, f"{command}-{i}")
        outs.append(out)
        argvs.append([a.format(out=out, **values) for a in BASE[command] + list(args)])
    proc = subprocess.run([sys.executable, "-c", RUNNER, command, json.dumps(argvs)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULTS ")]
    if proc.returncode != 0 or not line:
        raise RuntimeError(f"the runner for {command} failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[-1][len("RESULTS "):]), outs
